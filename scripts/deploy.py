"""Deploys sbx, or removes it: one code path for AWS and for the local stack's AWS.

    scripts/deploy [--local] [--guided] [--config FILE] [--no-build]
    scripts/undeploy [--local] [--config FILE]

Deploying:
1. builds the Lambda artifacts (scripts/build-lambdas);
2. packages them, and the state machine definitions, into the artifacts bucket;
3. applies SAM's transform to infra/template.yaml offline (aws-sam-translator: what
   CloudFormation does with `Transform: AWS::Serverless-2016-10-31`) and creates or updates the
   stack with it;
4. creates or updates the provisioning role in the member accounts: a service-managed StackSet
   of infra/provisioning-role.yaml on the configured organizational units;
5. creates the first admin (Cognito sends the temporary password by email; none is printed);
6. uploads the web console (scripts/deploy-console);
7. prints the API's and the console's URLs.

Every step finds what an earlier run made: running it again updates, never duplicates.
Parameters come from the configuration file (default: sbx-deploy.toml), which `--guided` writes.

`--local` runs the same code against the AWS endpoint of the environment ($AWS_ENDPOINT_URL,
as `scripts/up` prints it). moto's CloudFormation has no model for some resource types; those
resources are not created, and the command lists each by logical id with the reason. A
reference to one resolves to a placeholder (`unsupported:<LogicalId>`), also listed. Artifacts
that were not built are packaged as an empty `bootstrap`, and said so.
"""

import argparse
import hashlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import tomllib
import zipfile

import boto3
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
PROVISIONING = ROOT / "infra" / "provisioning-role.yaml"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]

# What the configuration file holds, with the question --guided asks and the default.
SETTINGS = [
    ("stack_name", "Stack name", "sbx"),
    ("region", "Region", "us-east-1"),
    ("artifacts_bucket", "Bucket for the artifacts (made if missing)", ""),
    ("admin_username", "First admin's user name", "admin"),
    ("admin_email", "First admin's email (the temporary password is sent there)", ""),
    ("provisioning_ou_ids", "OUs whose accounts get the provisioning role (comma-separated)", ""),
]
# Template parameters that have no default: --guided asks for them.
REQUIRED_PARAMETERS = ["AcpImageId", "OcpImageId", "ProxyImageId", "OrganizationId"]


class DeployError(Exception):
    pass


def say(text):
    print(text, flush=True)


# ---------------------------------------------------------------- configuration


def load_config(path, guided):
    config = {"parameters": {}}
    if path.exists():
        with path.open("rb") as f:
            config.update(tomllib.load(f))
    elif not guided:
        raise DeployError(f"no configuration at {path}: run scripts/deploy --guided once (docs/deploy.md)")
    if guided:
        for key, question, default in SETTINGS:
            current = config.get(key, default)
            answer = input(f"{question} [{current}]: ").strip()
            config[key] = answer or current
        for name in REQUIRED_PARAMETERS:
            current = config["parameters"].get(name, "")
            answer = input(f"Template parameter {name} [{current}]: ").strip()
            config["parameters"][name] = answer or current
        write_config(path, config)
        say(f"saved {path}")
    for key, _, default in SETTINGS:
        config.setdefault(key, default)
    return config


def write_config(path, config):
    def quoted(value):
        return json.dumps(str(value))

    lines = ["# sbx deployment (scripts/deploy); keep it, it is read on every deploy. No secrets here.\n"]
    for key, _, _ in SETTINGS:
        lines.append(f"{key} = {quoted(config.get(key, ''))}\n")
    lines.append("\n[parameters]\n")
    for name, value in sorted(config["parameters"].items()):
        lines.append(f"{name} = {quoted(value)}\n")
    path.write_text("".join(lines))


# ---------------------------------------------------------------- the template as data


class Tagged(yaml.SafeLoader):
    """YAML with CloudFormation's short forms read as their long JSON forms."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


Tagged.add_multi_constructor("!", _intrinsic)


def read_template(path):
    with path.open() as f:
        return yaml.load(f, Loader=Tagged)


# ---------------------------------------------------------------- packaging


def artifact_zip(directory, local):
    """The function's deployment package: its directory zipped; locally an empty bootstrap
    when it was not built."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        if directory.is_dir():
            for file in sorted(p for p in directory.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(file.relative_to(directory).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if file.name == "bootstrap" else 0o644) << 16
                z.writestr(info, file.read_bytes())
        elif local:
            info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            z.writestr(info, b"")
        else:
            raise DeployError(f"{directory} was not built: run scripts/build-lambdas")
    return buffer.getvalue()


def ensure_bucket(s3, bucket, region):
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError:
        pass
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **options)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def upload(s3, bucket, prefix, body):
    """Puts `body` under its hash, so that an unchanged artifact is not uploaded twice and an
    update of the stack sees exactly what changed."""
    key = f"{prefix}/{hashlib.sha256(body).hexdigest()}"
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def package(template, s3, bucket, local, notes):
    base = TEMPLATE.parent
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            directory = (base / props["CodeUri"]).resolve()
            if local and not directory.is_dir():
                notes.append(f"{logical_id}: not built ({directory.relative_to(ROOT)}); an empty bootstrap is packaged")
            key = upload(s3, bucket, "functions", artifact_zip(directory, local))
            props["CodeUri"] = {"Bucket": bucket, "Key": key}
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            body = (base / props["DefinitionUri"]).read_bytes()
            key = upload(s3, bucket, "statemachines", body)
            props["DefinitionUri"] = {"Bucket": bucket, "Key": key}
    return template


# ---------------------------------------------------------------- the transform


def transform(template, parameters, session):
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform as sam_transform

    loader = ManagedPolicyLoader(session.client("iam"))
    return sam_transform(template, parameters, loader)


# ---------------------------------------------------------------- the local AWS's limits


def moto_models():
    from moto.cloudformation import parsing

    return set(parsing.get_model_map()) if hasattr(parsing, "get_model_map") else set(parsing.MODEL_MAP)


def adapt_for_moto(template, s3, notes):
    """What moto's CloudFormation cannot create is taken out (listed, with the reason) and
    references to it become placeholders (listed); what moto reads differently is rewritten to
    mean the same (listed)."""
    models = moto_models()
    resources = template["Resources"]
    removed = {}
    for logical_id, resource in list(resources.items()):
        if resource["Type"] not in models:
            removed[logical_id] = resource["Type"]
            del resources[logical_id]
    referrers = {target: set() for target in removed}

    def placeholder(value, where):
        if isinstance(value, dict):
            if "Ref" in value and value["Ref"] in removed:
                referrers[value["Ref"]].add(where)
                return f"unsupported:{value['Ref']}"
            if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in removed:
                target = value["Fn::GetAtt"][0]
                referrers[target].add(where)
                return f"arn:aws:unsupported:::{target}"
            if "Fn::Sub" in value:
                sub = value["Fn::Sub"]
                text = sub if isinstance(sub, str) else sub[0]

                def unsupported(match):
                    target = match.group(1)
                    referrers[target].add(where)
                    return f"unsupported:{target}{match.group(2) or ''}"

                names = "|".join(re.escape(r) for r in removed)
                if names:
                    text = re.sub(r"\$\{(" + names + r")(\.[A-Za-z.]+)?\}", unsupported, text)
                if isinstance(sub, str):
                    return {"Fn::Sub": text}
                return {"Fn::Sub": [text, placeholder(sub[1], where)]}
            return {k: placeholder(v, where) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholder(v, where) for v in value]
        return value

    for logical_id, resource in resources.items():
        resources[logical_id] = placeholder(resource, logical_id)
        depends = resource.get("DependsOn")
        if isinstance(depends, str):
            depends = [depends]
        if depends:
            kept = [d for d in depends if d not in removed]
            if kept:
                resources[logical_id]["DependsOn"] = kept
            else:
                resources[logical_id].pop("DependsOn", None)
    template["Outputs"] = {
        name: placeholder(output, f"output {name}") for name, output in template.get("Outputs", {}).items()
    }
    for logical_id, kind in sorted(removed.items()):
        users = sorted(referrers[logical_id])
        used = f"; unsupported:{logical_id} stands for it in {', '.join(users)}" if users else ""
        notes.append(f"{logical_id}: not created: moto's CloudFormation has no model for {kind}{used}")
    # moto answers a Ref of an event bus with its model rather than its name (which then cannot
    # be written into a function's environment): the name is put in its place.
    buses = {
        logical_id: resource["Properties"]["Name"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Events::EventBus"
    }

    def bus_names(value):
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in buses:
                return buses[value["Ref"]]
            return {k: bus_names(v) for k, v in value.items()}
        if isinstance(value, list):
            return [bus_names(v) for v in value]
        return value

    if buses:
        for logical_id in resources:
            if logical_id not in buses:
                resources[logical_id] = bus_names(resources[logical_id])
        template["Outputs"] = bus_names(template["Outputs"])
        notes.append(f"{', '.join(sorted(buses))}: a Ref of the bus is written as its name (moto's Ref gives no name)")
    # moto reads a state machine's DefinitionString as it is and ignores DefinitionSubstitutions
    # and DefinitionS3Location: the definition is read here and substituted by Fn::Sub, which
    # gives the state machine the text CloudFormation would.
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        location = props.pop("DefinitionS3Location", None)
        if location:
            body = s3.get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"].read().decode()
            props["DefinitionString"] = body
        substitutions = props.pop("DefinitionSubstitutions", None)
        if substitutions:
            props["DefinitionString"] = {"Fn::Sub": [props["DefinitionString"], substitutions]}
        notes.append(f"{logical_id}: definition read from S3 and substituted before CloudFormation (moto ignores DefinitionS3Location and DefinitionSubstitutions)")
    # Conditions naming removed resources are not expected; drop empty sections.
    return template


# ---------------------------------------------------------------- CloudFormation


def deploy_stack(cfn, name, body, parameters):
    params = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in sorted(parameters.items())]
    try:
        cfn.describe_stacks(StackName=name)
        exists = True
    except cfn.exceptions.ClientError:
        exists = False
    try:
        if exists:
            cfn.update_stack(StackName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES)
            say(f"updating stack {name}")
        else:
            cfn.create_stack(StackName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES)
            say(f"creating stack {name}")
    except cfn.exceptions.ClientError as err:
        if "No updates are to be performed" in str(err):
            say(f"stack {name} is up to date")
            return outputs(cfn, name)
        raise
    wait(cfn, name, ("CREATE_COMPLETE", "UPDATE_COMPLETE"))
    return outputs(cfn, name)


def wait(cfn, name, good, within=3600):
    deadline = time.monotonic() + within
    while True:
        try:
            status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except cfn.exceptions.ClientError:
            status = "DELETE_COMPLETE"
        if status in good:
            return status
        if status.endswith("_FAILED") or status.endswith("ROLLBACK_COMPLETE") or status == "DELETE_COMPLETE":
            events = cfn.describe_stack_events(StackName=name)["StackEvents"] if status != "DELETE_COMPLETE" else []
            reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events if "FAILED" in e["ResourceStatus"]]
            raise DeployError(f"stack {name} ended {status}: " + "; ".join(reasons[:5]))
        if time.monotonic() > deadline:
            raise DeployError(f"stack {name} still {status} after {within} s")
        time.sleep(5 if status.endswith("IN_PROGRESS") else 1)


def outputs(cfn, name):
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# ---------------------------------------------------------------- the member accounts


def provisioning_role(cfn, config, account, local, accounts, notes):
    """The provisioning role in the member accounts: a service-managed StackSet on the
    configured OUs (AWS), or a self-managed one on the given accounts (the local rehearsal,
    where moto has no service-managed permissions)."""
    name = f"{config['stack_name']}-provisioning-role"
    body = PROVISIONING.read_text()
    params = [{"ParameterKey": "OrchestratorAccountId", "ParameterValue": account}]
    model = "SELF_MANAGED" if local else "SERVICE_MANAGED"
    extra = {} if local else {"AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False}}
    try:
        cfn.describe_stack_set(StackSetName=name)
        operation = cfn.update_stack_set(StackSetName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES)
        wait_operation(cfn, name, operation.get("OperationId"))
        say(f"updated stack set {name} and its instances")
    except cfn.exceptions.ClientError as err:
        if "StackSetNotFound" not in str(err):
            raise
        cfn.create_stack_set(
            StackSetName=name, TemplateBody=body, Parameters=params, Capabilities=CAPABILITIES, PermissionModel=model, **extra
        )
        say(f"created stack set {name}")
    if cfn.list_stack_instances(StackSetName=name).get("Summaries"):
        return
    if local:
        if not accounts:
            notes.append(f"{name}: no member accounts given (--accounts): no instances")
            return
        try:
            operation = cfn.create_stack_instances(StackSetName=name, Accounts=accounts, Regions=[config["region"]])
        except cfn.exceptions.ClientError as err:
            if "AlreadyExists" not in str(err):
                raise
            notes.append(f"{name}: no instances: the local seed's bootstrap made the role in these accounts already")
            return
        wait_operation(cfn, name, operation.get("OperationId"))
        say(f"stack set {name}: instances in {len(accounts)} accounts")
        return
    units = [u.strip() for u in config.get("provisioning_ou_ids", "").split(",") if u.strip()]
    if not units:
        raise DeployError("provisioning_ou_ids is empty: the provisioning role would reach no account (docs/deploy.md)")
    operation = cfn.create_stack_instances(
        StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": units}, Regions=[config["region"]]
    )
    wait_operation(cfn, name, operation.get("OperationId"))
    say(f"stack set {name}: instances on {', '.join(units)}")


def wait_operation(cfn, name, operation, within=3600):
    """Waits for a StackSet operation to end; a failed one is an error."""
    if not operation:
        return
    deadline = time.monotonic() + within
    while True:
        status = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation)["StackSetOperation"]["Status"]
        if status == "SUCCEEDED":
            return
        if status in ("FAILED", "STOPPED"):
            raise DeployError(f"stack set {name}: operation {operation} ended {status}")
        if time.monotonic() > deadline:
            raise DeployError(f"stack set {name}: operation {operation} still {status} after {within} s")
        time.sleep(5)


def first_admin(session, config, out, notes):
    pool = out.get("UserPoolId", "")
    if not pool or pool.startswith("unsupported:"):
        notes.append("first admin: not created: the user pool was not created")
        return
    username, email = config.get("admin_username", ""), config.get("admin_email", "")
    if not email:
        notes.append("first admin: not created: no admin_email in the configuration")
        return
    idp = session.client("cognito-idp")
    try:
        idp.admin_create_user(
            UserPoolId=pool,
            Username=username,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            DesiredDeliveryMediums=["EMAIL"],
        )
        say(f"first admin {username}: created; Cognito emails the temporary password to {email}")
    except idp.exceptions.UsernameExistsException:
        say(f"first admin {username}: already there")
    idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName="admins")


def console(config, out, notes, local):
    if local and str(out.get("ApiDistributionId", "unsupported:")).startswith("unsupported:"):
        notes.append("console: not uploaded: the distribution was not created")
        return
    subprocess.run([str(ROOT / "scripts" / "deploy-console"), config["stack_name"]], check=True)


# ---------------------------------------------------------------- the commands


def deploy(args):
    config = load_config(args.config, args.guided)
    session = boto3.session.Session(region_name=config["region"])
    account = session.client("sts").get_caller_identity()["Account"]
    notes = []
    if not args.local and not args.no_build:
        subprocess.run([str(ROOT / "scripts" / "build-lambdas")], check=True)
    bucket = config.get("artifacts_bucket") or f"{config['stack_name']}-artifacts-{account}-{config['region']}"
    s3 = session.client("s3")
    ensure_bucket(s3, bucket, config["region"])
    template = package(read_template(TEMPLATE), s3, bucket, args.local, notes)
    parameters = dict(config["parameters"])
    missing = [p for p in REQUIRED_PARAMETERS if not parameters.get(p)]
    if missing:
        raise DeployError(f"the configuration has no value for {', '.join(missing)} (scripts/deploy --guided)")
    translated = transform(template, parameters, session)
    if args.local:
        translated = adapt_for_moto(translated, s3, notes)
    cfn = session.client("cloudformation")
    out = deploy_stack(cfn, config["stack_name"], json.dumps(translated), parameters)
    provisioning_role(cfn, config, account, args.local, args.accounts, notes)
    first_admin(session, config, out, notes)
    console(config, out, notes, args.local)
    if notes:
        say("not done here:" if args.local else "notes:")
        for note in notes:
            say(f"  - {note}")
    say(f"API: {out.get('ApiUrl', '(none)')}")
    say(f"console: {out.get('ConsoleUrl', '(none)')}")
    if args.summary:
        pathlib.Path(args.summary).write_text(json.dumps({"outputs": out, "notes": notes}, indent=2))


def undeploy(args):
    config = load_config(args.config, False)
    session = boto3.session.Session(region_name=config["region"])
    cfn = session.client("cloudformation")
    s3 = session.client("s3")
    name = config["stack_name"]
    try:
        out = outputs(cfn, name)
    except cfn.exceptions.ClientError:
        out = {}
    bucket = out.get("ConsoleBucketName")
    if bucket and not bucket.startswith("unsupported:"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
        say(f"emptied s3://{bucket}")
    stack_set = f"{name}-provisioning-role"
    try:
        instances = cfn.list_stack_instances(StackSetName=stack_set)["Summaries"]
        accounts = sorted({i["Account"] for i in instances})
        if accounts:
            cfn.delete_stack_instances(StackSetName=stack_set, Accounts=accounts, Regions=[config["region"]], RetainStacks=False)
        cfn.delete_stack_set(StackSetName=stack_set)
        say(f"deleted stack set {stack_set} ({len(accounts)} accounts)")
    except cfn.exceptions.ClientError as err:
        if "StackSetNotFound" not in str(err):
            raise
    if out or name:
        try:
            cfn.delete_stack(StackName=name)
            wait(cfn, name, ("DELETE_COMPLETE",))
            say(f"deleted stack {name}")
        except DeployError as err:
            raise DeployError(f"deleting {name}: {err}")
    say("kept: the five DynamoDB tables (DeletionPolicy Retain: the records and the audit trail),")
    say("      the functions' CloudWatch log groups, and the artifacts bucket")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["deploy", "undeploy"])
    parser.add_argument("--local", action="store_true", help="the AWS endpoint of the environment (the local stack)")
    parser.add_argument("--guided", action="store_true", help="ask for the settings and save them")
    parser.add_argument("--config", type=pathlib.Path, default=ROOT / "sbx-deploy.toml")
    parser.add_argument("--no-build", action="store_true", help="deploy the artifacts already built")
    parser.add_argument("--accounts", nargs="*", default=[], help="--local: member accounts for the provisioning role")
    parser.add_argument("--summary", help="write the outputs and the notes as JSON to this file")
    args = parser.parse_args()
    if args.local and not os.environ.get("AWS_ENDPOINT_URL"):
        print("deploy: --local needs AWS_ENDPOINT_URL (eval the export lines scripts/up prints)", file=sys.stderr)
        return 2
    try:
        deploy(args) if args.command == "deploy" else undeploy(args)
    except DeployError as err:
        print(f"{args.command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
