//! The local API gateway itself: an unknown route, or a method a path lacks, reaches no
//! function and gets API Gateway's own 404.

use crate::{Ctx, Seen};
use serde_json::json;

pub async fn no_route_no_function(ctx: &Ctx, _seen: &mut Seen) {
    let nowhere = ctx.api.send("GET", "/nowhere", Some(&ctx.alice), None).await;
    assert_eq!(
        (nowhere.status, &nowhere.body),
        (404, &json!({"message": "Not Found"}))
    );
    let no_method = ctx.api.send("PUT", "/sandboxes", Some(&ctx.alice), None).await;
    assert_eq!(
        (no_method.status, &no_method.body),
        (404, &json!({"message": "Not Found"}))
    );
}
