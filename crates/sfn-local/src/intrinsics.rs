//! The 18 intrinsic functions of ASL (`States.Format(...)` and friends): parser and evaluator.

use crate::error::{Failure, INTRINSIC_FAILURE};
use crate::path;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Number, Value};

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A string literal: its value, and its text with `\{` `\}` kept (for Format's template).
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(String),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    name: String,
    args: Vec<Arg>,
}

/// Whether `text` looks like an intrinsic call (the field is then evaluated as one).
pub fn is_intrinsic(text: &str) -> bool {
    text.starts_with("States.")
}

/// Checks the syntax of an intrinsic call and that it names a known function.
pub fn validate(text: &str) -> Result<(), String> {
    let call = Parser::new(text).parse_all()?;
    check_names(&call)
}

fn check_names(call: &Call) -> Result<(), String> {
    if !FUNCTIONS.contains(&call.name.as_str()) {
        return Err(format!("unknown intrinsic function {}", call.name));
    }
    call.args.iter().try_for_each(|arg| match arg {
        Arg::Call(inner) => check_names(inner),
        _ => Ok(()),
    })
}

pub const FUNCTIONS: [&str; 18] = [
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

/// Evaluates an intrinsic call against the state input and the context object.
pub fn evaluate(text: &str, input: &Value, context: &Value) -> Result<Value, Failure> {
    let call = Parser::new(text).parse_all().map_err(|e| fail(text, &e))?;
    eval(&call, input, context).map_err(|e| fail(text, &e))
}

fn fail(text: &str, why: &str) -> Failure {
    Failure::new(INTRINSIC_FAILURE, format!("Invalid arguments in {text}: {why}"))
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn parse_all(mut self) -> Result<Call, String> {
        let call = self.call()?;
        self.skip_spaces();
        if !self.rest().is_empty() {
            return Err(format!("unexpected text after the call: {:?}", self.rest()));
        }
        Ok(call)
    }

    fn call(&mut self) -> Result<Call, String> {
        self.skip_spaces();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(self.rest().len());
        let name = self.rest()[..len].to_owned();
        if !name.starts_with("States.") {
            return Err(format!("expected an intrinsic function at {:?}", self.rest()));
        }
        self.pos += len;
        if !self.eat('(') {
            return Err(format!("expected '(' after {name}"));
        }
        let mut args = Vec::new();
        if !self.eat(')') {
            loop {
                args.push(self.arg()?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(format!("expected ',' or ')' in {name} at {:?}", self.rest()));
                }
            }
        }
        Ok(Call { name, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        self.skip_spaces();
        let rest = self.rest();
        if rest.starts_with('\'') {
            return self.string();
        }
        if rest.starts_with('$') {
            return Ok(Arg::Path(self.path()));
        }
        if rest.starts_with("States.") {
            return Ok(Arg::Call(self.call()?));
        }
        for (word, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(Arg::Literal(value));
            }
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        let number: Number = rest[..len]
            .parse()
            .map_err(|_| format!("unexpected argument at {rest:?}"))?;
        self.pos += len;
        Ok(Arg::Literal(Value::Number(number)))
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1; // the opening quote
        let mut value = String::new();
        let mut raw = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(Arg::Str { value, raw });
                }
                '\\' => {
                    let Some((_, escaped)) = chars.next() else { break };
                    value.push(escaped);
                    if matches!(escaped, '{' | '}') {
                        raw.push('\\');
                    }
                    raw.push(escaped);
                }
                c => {
                    value.push(c);
                    raw.push(c);
                }
            }
        }
        Err("unterminated string literal".into())
    }

    /// A path argument runs to the next ',' or ')' outside brackets and quotes.
    fn path(&mut self) -> String {
        let (mut depth, mut quote) = (0, None);
        let rest = self.rest();
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '\'' | '"' => quote = Some(c),
                    '[' | '(' => depth += 1,
                    ']' => depth -= 1,
                    ')' if depth > 0 => depth -= 1,
                    ',' | ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                },
            }
        }
        self.pos += end;
        rest[..end].trim_end().to_owned()
    }
}

fn eval(call: &Call, input: &Value, context: &Value) -> Result<Value, String> {
    let args: Vec<Value> = call
        .args
        .iter()
        .map(|arg| match arg {
            Arg::Str { value, .. } => Ok(Value::String(value.clone())),
            Arg::Literal(value) => Ok(value.clone()),
            Arg::Path(p) => resolve(p, input, context),
            Arg::Call(inner) => eval(inner, input, context),
        })
        .collect::<Result<_, String>>()?;
    let arity = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{} takes {n} arguments, got {}", call.name, args.len()))
        }
    };
    match call.name.as_str() {
        "States.Format" => {
            let Some(Arg::Str { raw, .. }) = call.args.first() else {
                return Err("the first argument of States.Format must be a string literal".into());
            };
            format(raw, &args[1..])
        }
        "States.StringToJson" => {
            arity(1)?;
            serde_json::from_str(string(&args[0])?).map_err(|e| format!("not JSON: {e}"))
        }
        "States.JsonToString" => {
            arity(1)?;
            Ok(Value::String(args[0].to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            arity(2)?;
            let items = array(&args[0])?;
            let size = integer(&args[1])?;
            if size <= 0 {
                return Err("the chunk size must be positive".into());
            }
            Ok(Value::Array(
                items
                    .chunks(size as usize)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        }
        "States.ArrayContains" => {
            arity(2)?;
            Ok(Value::Bool(array(&args[0])?.contains(&args[1])))
        }
        "States.ArrayRange" => {
            arity(3)?;
            let (start, end, step) = (integer(&args[0])?, integer(&args[1])?, integer(&args[2])?);
            if step == 0 {
                return Err("the step must not be 0".into());
            }
            let mut items = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                items.push(Value::from(i));
                if items.len() > 1000 {
                    return Err("the range has more than 1000 items".into());
                }
                i += step;
            }
            Ok(Value::Array(items))
        }
        "States.ArrayGetItem" => {
            arity(2)?;
            let items = array(&args[0])?;
            let index = integer(&args[1])?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| format!("index {index} is out of range"))
        }
        "States.ArrayLength" => {
            arity(1)?;
            Ok(Value::from(array(&args[0])?.len()))
        }
        "States.ArrayUnique" => {
            arity(1)?;
            let mut unique: Vec<Value> = Vec::new();
            for item in array(&args[0])? {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::Array(unique))
        }
        "States.Base64Encode" => {
            arity(1)?;
            Ok(Value::String(STANDARD.encode(string(&args[0])?)))
        }
        "States.Base64Decode" => {
            arity(1)?;
            let bytes = STANDARD
                .decode(string(&args[0])?)
                .map_err(|e| format!("not base64: {e}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| "the decoded data is not UTF-8".into())
        }
        "States.Hash" => {
            arity(2)?;
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            hash(data.as_bytes(), string(&args[1])?).map(Value::String)
        }
        "States.JsonMerge" => {
            arity(3)?;
            if args[2] != Value::Bool(false) {
                return Err("only a shallow merge (false) is supported, as on AWS".into());
            }
            let (Value::Object(left), Value::Object(right)) = (&args[0], &args[1]) else {
                return Err("both arguments must be objects".into());
            };
            let mut merged = left.clone();
            merged.extend(right.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(Value::Object(merged))
        }
        "States.MathRandom" => {
            if !(2..=3).contains(&args.len()) {
                return Err("States.MathRandom takes 2 or 3 arguments".into());
            }
            let (start, end) = (integer(&args[0])?, integer(&args[1])?);
            if start >= end {
                return Err("the start must be less than the end".into());
            }
            let mut rng = match args.get(2) {
                Some(seed) => fastrand::Rng::with_seed(integer(seed)? as u64),
                None => fastrand::Rng::new(),
            };
            Ok(Value::from(rng.i64(start..end)))
        }
        "States.MathAdd" => {
            arity(2)?;
            integer(&args[0])?
                .checked_add(integer(&args[1])?)
                .map(Value::from)
                .ok_or_else(|| "the sum overflows".into())
        }
        "States.StringSplit" => {
            arity(2)?;
            let delimiters: Vec<char> = string(&args[1])?.chars().collect();
            Ok(Value::Array(
                string(&args[0])?
                    .split(delimiters.as_slice())
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            ))
        }
        "States.UUID" => {
            arity(0)?;
            Ok(Value::String(uuid::Uuid::new_v4().to_string()))
        }
        other => Err(format!("unknown intrinsic function {other}")),
    }
}

fn resolve(text: &str, input: &Value, context: &Value) -> Result<Value, String> {
    let result = match text.strip_prefix('$') {
        Some(rest) if rest.starts_with('$') => path::query(rest, context),
        _ => path::query(text, input),
    };
    result.map_err(|e| e.to_string())
}

fn format(template: &str, args: &[Value]) -> Result<Value, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                match args.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Array(_) | Value::Object(_)) => {
                        return Err(
                            "States.Format arguments must be strings, numbers, booleans or null".into(),
                        );
                    }
                    Some(other) => out.push_str(&other.to_string()),
                    None => return Err("more placeholders than arguments".into()),
                }
            }
            c => out.push(c),
        }
    }
    if args.next().is_some() {
        return Err("more arguments than placeholders".into());
    }
    Ok(Value::String(out))
}

fn hash(data: &[u8], algorithm: &str) -> Result<String, String> {
    use sha2::Digest;
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    Ok(match algorithm {
        "MD5" => hex(&md5::Md5::digest(data)),
        "SHA-1" => hex(&sha1::Sha1::digest(data)),
        "SHA-256" => hex(&sha2::Sha256::digest(data)),
        "SHA-384" => hex(&sha2::Sha384::digest(data)),
        "SHA-512" => hex(&sha2::Sha512::digest(data)),
        other => return Err(format!("unknown hash algorithm {other}")),
    })
}

fn string(value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string, got {value}"))
}

fn array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("expected an array, got {value}"))
}

fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("expected an integer, got {n}")),
        other => Err(format!("expected an integer, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(text: &str, input: Value) -> Result<Value, Failure> {
        evaluate(text, &input, &json!({"Execution": {"Name": "exec-1"}}))
    }

    fn ok(text: &str, input: Value) -> Value {
        run(text, input).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_function_evaluates_as_documented() {
        let input = json!({"name": "Ana", "n": 3, "list": [1, 2, 2, 3], "obj": {"a": 1}, "s": "a,b,,c"});
        assert_eq!(
            ok(
                "States.Format('Hello, {}! You are {}.', $.name, $.n)",
                input.clone()
            ),
            json!("Hello, Ana! You are 3.")
        );
        assert_eq!(
            ok("States.Format('\\{{}\\}', $.name)", input.clone()),
            json!("{Ana}")
        );
        assert_eq!(
            ok("States.StringToJson('{\"x\": [1]}')", input.clone()),
            json!({"x": [1]})
        );
        assert_eq!(
            ok("States.JsonToString($.obj)", input.clone()),
            json!("{\"a\":1}")
        );
        assert_eq!(
            ok("States.Array('a', 1, true, null, $.n)", input.clone()),
            json!(["a", 1, true, null, 3])
        );
        assert_eq!(
            ok("States.ArrayPartition($.list, 3)", input.clone()),
            json!([[1, 2, 2], [3]])
        );
        assert_eq!(ok("States.ArrayContains($.list, 3)", input.clone()), json!(true));
        assert_eq!(
            ok("States.ArrayRange(1, 9, 2)", input.clone()),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(ok("States.ArrayGetItem($.list, 3)", input.clone()), json!(3));
        assert_eq!(ok("States.ArrayLength($.list)", input.clone()), json!(4));
        assert_eq!(ok("States.ArrayUnique($.list)", input.clone()), json!([1, 2, 3]));
        assert_eq!(
            ok("States.Base64Encode('Data to encode')", input.clone()),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            ok("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", input.clone()),
            json!("Data to encode")
        );
        assert_eq!(
            ok("States.Hash('input data', 'SHA-1')", input.clone()),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            ok("States.Hash('', 'MD5')", input.clone()),
            json!("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(
            ok(
                "States.JsonMerge($.obj, States.StringToJson('{\"b\":2}'), false)",
                input.clone()
            ),
            json!({"a": 1, "b": 2})
        );
        let random = ok("States.MathRandom(1, 10)", input.clone());
        assert!((1..10).contains(&random.as_i64().unwrap_or(0)), "{random}");
        assert_eq!(
            ok("States.MathRandom(1, 1000, 7)", input.clone()),
            ok("States.MathRandom(1, 1000, 7)", input.clone())
        );
        assert_eq!(ok("States.MathAdd($.n, -1)", input.clone()), json!(2));
        assert_eq!(
            ok("States.StringSplit($.s, ',')", input.clone()),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            ok("States.Format('{}', $$.Execution.Name)", input.clone()).as_str(),
            Some("exec-1")
        );
        let uuid = ok("States.UUID()", input);
        assert_eq!(uuid.as_str().map(str::len), Some(36));
    }

    #[test]
    fn bad_calls_fail_with_intrinsic_failure() {
        for text in [
            "States.ArrayGetItem(States.Array(1), 5)",
            "States.Format('{} {}', 'one')",
            "States.MathAdd('a', 1)",
            "States.Nope(1)",
            "States.Array(1",
            "States.Hash('x', 'CRC32')",
            "States.JsonMerge(States.StringToJson('{}'), States.StringToJson('{}'), true)",
        ] {
            let err = run(text, json!({}))
                .err()
                .unwrap_or_else(|| panic!("{text} must fail"));
            assert_eq!(err.error, INTRINSIC_FAILURE, "{text}");
        }
        assert!(validate("States.Nope()").is_err());
        assert!(validate("States.Format('{}', States.UUID())").is_ok());
    }
}
