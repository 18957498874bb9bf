//! Installing constellations on the OCP VM with SSM Run Command, and watching the command.

use crate::error::{AwsError, sdk, sdk_not_yet};
use aws_sdk_ssm::Client;

/// Where a command stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Running,
    Succeeded,
    Failed(String),
}

/// The shell commands that install `constellations`.
pub fn script(constellations: &[String]) -> Vec<String> {
    constellations
        .iter()
        .map(|name| format!("/opt/sbx/bin/install-constellation '{}'", name.replace('\'', "")))
        .collect()
}

/// Sends the install command to `instance_id`, unless an earlier try sent it (its answer
/// lost) and it has not failed; returns the command id.
pub async fn install(
    ssm: &Client,
    instance_id: &str,
    sandbox: &str,
    constellations: &[String],
) -> Result<String, AwsError> {
    let comment = format!("sbx: constellations for {sandbox}");
    let sent = ssm
        .list_commands()
        .instance_id(instance_id)
        .send()
        .await
        .map_err(sdk("ListCommands"))?;
    let earlier = sent.commands().iter().find(|c| {
        // Sent to this instance alone, as install sends it.
        c.instance_ids() == [instance_id]
            && c.comment() == Some(comment.as_str())
            && c.parameters()
                .and_then(|p| p.get("commands"))
                .is_some_and(|commands| *commands == script(constellations))
            && !matches!(
                c.status().map(|s| s.as_str()),
                Some("Failed" | "Cancelled" | "TimedOut" | "Cancelling")
            )
    });
    if let Some(id) = earlier.and_then(|c| c.command_id()) {
        return Ok(id.to_owned());
    }
    let output = ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(instance_id)
        .comment(comment)
        .parameters("commands", script(constellations))
        .send()
        .await
        // The agent registers 30 s to minutes after the instance is running; until then
        // SendCommand refuses the instance.
        .map_err(sdk_not_yet("SendCommand", &["InvalidInstanceId"]))?;
    output
        .command()
        .and_then(|c| c.command_id())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("SendCommand returned no command id".into()))
}

/// The command's progress on `instance_id`.
pub async fn progress(ssm: &Client, command_id: &str, instance_id: &str) -> Result<Progress, AwsError> {
    let output = ssm
        .get_command_invocation()
        .command_id(command_id)
        .instance_id(instance_id)
        .send()
        .await
        .map_err(sdk("GetCommandInvocation"));
    let output = match output {
        Ok(output) => output,
        // Right after SendCommand the invocation may not be visible yet.
        Err(err) if err.has_code(&["InvocationDoesNotExist"]) => return Ok(Progress::Running),
        Err(err) => return Err(err),
    };
    let status = output.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
    Ok(match status.as_str() {
        "Pending" | "InProgress" | "Delayed" => Progress::Running,
        "Success" => Progress::Succeeded,
        other => Progress::Failed(format!(
            "command {command_id} ended {other}: {}",
            output.standard_error_content().unwrap_or_default()
        )),
    })
}
