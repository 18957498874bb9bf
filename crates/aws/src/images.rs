//! The machine images live in the management account, which shares them with a tenant account
//! by adding a launch permission (SPEC: Per-sandbox resources).

use crate::error::{AwsError, sdk};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications};

/// Lets `account_id` launch each image. An image that does not exist (or is not available)
/// fails with [`AwsError::ImageNotFound`].
pub async fn share(management: &Client, image_ids: &[&str], account_id: &str) -> Result<(), AwsError> {
    for image_id in image_ids {
        let found = management
            .describe_images()
            .image_ids(*image_id)
            .send()
            .await
            .map_err(sdk("DescribeImages"));
        let available = match found {
            Ok(output) => output.images().iter().any(|image| {
                image.image_id() == Some(*image_id) && image.state().is_none_or(|s| s.as_str() == "available")
            }),
            Err(err)
                if err.has_code(&[
                    "InvalidAMIID.NotFound",
                    "InvalidAMIID.Malformed",
                    "InvalidAMIID.Unavailable",
                ]) =>
            {
                false
            }
            Err(err) => return Err(err),
        };
        if !available {
            return Err(AwsError::ImageNotFound {
                image_id: (*image_id).to_owned(),
                message: "the management account has no such available image".into(),
            });
        }
        management
            .modify_image_attribute()
            .image_id(*image_id)
            .launch_permission(
                LaunchPermissionModifications::builder()
                    .add(LaunchPermission::builder().user_id(account_id).build())
                    .build(),
            )
            .send()
            .await
            .map_err(sdk("ModifyImageAttribute"))?;
    }
    Ok(())
}

/// The accounts an image is shared with.
pub async fn shared_with(management: &Client, image_id: &str) -> Result<Vec<String>, AwsError> {
    let output = management
        .describe_image_attribute()
        .image_id(image_id)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .map_err(sdk("DescribeImageAttribute"))?;
    Ok(output
        .launch_permissions()
        .iter()
        .filter_map(|p| p.user_id().map(str::to_owned))
        .collect())
}
