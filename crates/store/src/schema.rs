//! The store's tables, as `infra/template.yaml` defines them.
//!
//! The template is the one definition of keys, indexes and TTL. The local stack and the tests
//! create their tables from it with [`create_tables`]; the constants below name what the code
//! relies on, and the tests of this module prove the template provides them.

use crate::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The deployable template, embedded so that every binary creates the same tables.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// Logical ids of the tables in the template.
pub const SANDBOXES: &str = "SandboxesTable";
pub const EVENTS: &str = "EventsTable";
pub const TENANTS: &str = "TenantsTable";
pub const LOCKS: &str = "LocksTable";
pub const ACCOUNTS: &str = "AccountsTable";

/// Sparse index of live sandboxes by expiry: partition `live`, sort `expires_at`.
pub const BY_EXPIRY: &str = "by-expiry";
/// Sparse index of live sandboxes by their next deadline (an expiry warning that may be due):
/// partition `deadline`, sort `deadline_at`.
pub const BY_DEADLINE: &str = "by-deadline";
/// Sparse index of the sandboxes whose cost is still metered (until the meter has seen their
/// deletion): partition `meter`, sort `id`.
pub const BY_METER: &str = "by-meter";
/// Index of sandboxes by state: partition `state`, sort `updated_at`; of accounts by state:
/// partition `state`, sort `account_id`.
pub const BY_STATE: &str = "by-state";

/// The variables a deployed function finds the tables' names in.
const SANDBOXES_VAR: &str = "SBX_SANDBOXES_TABLE";
const EVENTS_VAR: &str = "SBX_EVENTS_TABLE";
const TENANTS_VAR: &str = "SBX_TENANTS_TABLE";
const LOCKS_VAR: &str = "SBX_LOCKS_TABLE";
const ACCOUNTS_VAR: &str = "SBX_ACCOUNTS_TABLE";

/// `name`, unless it is empty: the function was not given that table (`variable`).
fn given<'a>(name: &'a str, variable: &'static str) -> Result<&'a str, StoreError> {
    if name.is_empty() {
        Err(StoreError::Unconfigured { variable })
    } else {
        Ok(name)
    }
}

/// The physical names of the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub sandboxes: String,
    pub events: String,
    pub tenants: String,
    pub locks: String,
    pub accounts: String,
}

impl TableNames {
    /// Names for a local stack or a test: `<prefix>sandboxes`, `<prefix>events`, ...
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            sandboxes: format!("{prefix}sandboxes"),
            events: format!("{prefix}events"),
            tenants: format!("{prefix}tenants"),
            locks: format!("{prefix}locks"),
            accounts: format!("{prefix}accounts"),
        }
    }

    /// The names a deployed function gets from its environment (`SBX_SANDBOXES_TABLE`, ...),
    /// read by `var`. A table the environment does not name is left empty: a function needs
    /// only the tables it uses, and the store refuses to use one it was not given, naming its
    /// variable ([`StoreError::Unconfigured`]).
    pub fn from_vars(var: impl Fn(&'static str) -> Option<String>) -> Self {
        let var = |name: &'static str| var(name).unwrap_or_default();
        Self {
            sandboxes: var(SANDBOXES_VAR),
            events: var(EVENTS_VAR),
            tenants: var(TENANTS_VAR),
            locks: var(LOCKS_VAR),
            accounts: var(ACCOUNTS_VAR),
        }
    }

    pub fn sandboxes(&self) -> Result<&str, StoreError> {
        given(&self.sandboxes, SANDBOXES_VAR)
    }

    pub fn events(&self) -> Result<&str, StoreError> {
        given(&self.events, EVENTS_VAR)
    }

    pub fn tenants(&self) -> Result<&str, StoreError> {
        given(&self.tenants, TENANTS_VAR)
    }

    pub fn locks(&self) -> Result<&str, StoreError> {
        given(&self.locks, LOCKS_VAR)
    }

    pub fn accounts(&self) -> Result<&str, StoreError> {
        given(&self.accounts, ACCOUNTS_VAR)
    }

    fn for_logical_id(&self, logical_id: &str) -> Option<&str> {
        match logical_id {
            SANDBOXES => Some(&self.sandboxes),
            EVENTS => Some(&self.events),
            TENANTS => Some(&self.tenants),
            LOCKS => Some(&self.locks),
            ACCOUNTS => Some(&self.accounts),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("infra/template.yaml is not a valid template: {0}")]
    Template(#[from] serde_yaml::Error),
    #[error("table {table}: {message}")]
    Table { table: String, message: String },
}

/// The parts of an `AWS::DynamoDB::Table` that decide how items are keyed and indexed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    #[serde(default)]
    pub time_to_live_specification: Option<TtlDef>,
    #[serde(default)]
    pub stream_specification: Option<StreamDef>,
}

/// A table's stream: what each record of a change carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    pub stream_view_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Template {
    resources: BTreeMap<String, Resource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    properties: serde_yaml::Value,
}

/// Every DynamoDB table of the template, by logical id.
pub fn table_defs() -> Result<BTreeMap<String, TableDef>, SchemaError> {
    let template: Template = serde_yaml::from_str(TEMPLATE)?;
    template
        .resources
        .into_iter()
        .filter(|(_, resource)| resource.kind == "AWS::DynamoDB::Table")
        .map(|(id, resource)| Ok((id, serde_yaml::from_value(resource.properties)?)))
        .collect()
}

/// Creates every table of the template under `names`, with its indexes and TTL. A table that
/// exists already is left as it is.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), StoreError> {
    for (logical_id, def) in table_defs().map_err(schema_error)? {
        let name = names.for_logical_id(&logical_id).ok_or_else(|| {
            schema_error(SchemaError::Table {
                table: logical_id.clone(),
                message: "the template has a table the store does not know".into(),
            })
        })?;
        create_table(client, name, &def).await?;
    }
    Ok(())
}

async fn create_table(client: &Client, name: &str, def: &TableDef) -> Result<(), StoreError> {
    let invalid = |message: String| {
        schema_error(SchemaError::Table {
            table: name.to_owned(),
            message,
        })
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for attribute in &def.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    for key in key_schema(&def.key_schema).map_err(|e| invalid(e.to_string()))? {
        request = request.key_schema(key);
    }
    for index in &def.global_secondary_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
            .set_non_key_attributes(
                (!index.projection.non_key_attributes.is_empty())
                    .then(|| index.projection.non_key_attributes.clone()),
            )
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(
                    key_schema(&index.key_schema).map_err(|e| invalid(e.to_string()))?,
                ))
                .projection(projection)
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    if let Some(stream) = &def.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        // The table exists already (a local AWS seeded before): keep it.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(err) => return Err(StoreError::aws("CreateTable", err)),
    }

    if let Some(ttl) = def.time_to_live_specification.as_ref().filter(|ttl| ttl.enabled) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(true)
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| StoreError::aws("UpdateTimeToLive", e))?;
    }
    Ok(())
}

fn key_schema(keys: &[KeyDef]) -> Result<Vec<KeySchemaElement>, aws_sdk_dynamodb::error::BuildError> {
    keys.iter()
        .map(|key| {
            KeySchemaElement::builder()
                .attribute_name(&key.attribute_name)
                .key_type(KeyType::from(key.key_type.as_str()))
                .build()
        })
        .collect()
}

fn schema_error(err: SchemaError) -> StoreError {
    StoreError::Aws {
        operation: "CreateTable",
        transient: false,
        source: Box::new(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(keys: &[KeyDef]) -> Vec<(&str, &str)> {
        keys.iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect()
    }

    fn defs() -> BTreeMap<String, TableDef> {
        table_defs().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A function needs only the tables it uses: one its environment does not name is refused
    /// when used, naming the variable.
    #[test]
    fn a_table_the_environment_does_not_name_is_refused_by_its_variable() {
        let tables = TableNames::from_vars(|name| (name != "SBX_LOCKS_TABLE").then(|| format!("t-{name}")));
        assert_eq!(tables.sandboxes().ok(), Some("t-SBX_SANDBOXES_TABLE"));
        assert!(matches!(
            tables.locks(),
            Err(StoreError::Unconfigured {
                variable: "SBX_LOCKS_TABLE"
            })
        ));
    }

    /// The attribute names the store writes are the keys the template declares.
    #[test]
    fn the_template_declares_the_keys_the_store_uses() {
        let defs = defs();
        assert_eq!(
            defs.keys().map(String::as_str).collect::<Vec<_>>(),
            [ACCOUNTS, EVENTS, LOCKS, SANDBOXES, TENANTS]
        );
        let sandboxes = &defs[SANDBOXES];
        assert_eq!(keys(&sandboxes.key_schema), [("tenant", "HASH"), ("id", "RANGE")]);
        let index = |name: &str| {
            sandboxes
                .global_secondary_indexes
                .iter()
                .find(|index| index.index_name == name)
                .map(|index| keys(&index.key_schema))
        };
        assert_eq!(
            index(BY_EXPIRY),
            Some(vec![("live", "HASH"), ("expires_at", "RANGE")])
        );
        assert_eq!(
            index(BY_STATE),
            Some(vec![("state", "HASH"), ("updated_at", "RANGE")])
        );
        assert_eq!(
            keys(&defs[EVENTS].key_schema),
            [("sandbox", "HASH"), ("seq", "RANGE")]
        );
        assert_eq!(
            keys(&defs[TENANTS].key_schema),
            [("tenant", "HASH"), ("key", "RANGE")]
        );
        assert_eq!(keys(&defs[LOCKS].key_schema), [("lock", "HASH")]);
        let accounts = &defs[ACCOUNTS];
        assert_eq!(keys(&accounts.key_schema), [("account_id", "HASH")]);
        assert_eq!(
            accounts
                .global_secondary_indexes
                .iter()
                .map(|index| (index.index_name.as_str(), keys(&index.key_schema)))
                .collect::<Vec<_>>(),
            [(BY_STATE, vec![("state", "HASH"), ("account_id", "RANGE")])]
        );
        for table in [SANDBOXES, TENANTS, LOCKS] {
            assert_eq!(
                defs[table].time_to_live_specification,
                Some(TtlDef {
                    attribute_name: "ttl".into(),
                    enabled: true
                }),
                "{table}"
            );
        }
    }

    #[test]
    fn every_key_attribute_is_defined_once_with_a_type() {
        for (table, def) in defs() {
            let mut used: Vec<&str> = keys(&def.key_schema).into_iter().map(|(name, _)| name).collect();
            for index in &def.global_secondary_indexes {
                used.extend(keys(&index.key_schema).into_iter().map(|(name, _)| name));
            }
            used.sort_unstable();
            used.dedup();
            let mut defined: Vec<&str> = def
                .attribute_definitions
                .iter()
                .map(|a| a.attribute_name.as_str())
                .collect();
            defined.sort_unstable();
            assert_eq!(
                defined, used,
                "{table}: AttributeDefinitions must be exactly the key attributes"
            );
        }
    }
}
