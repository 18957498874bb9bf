"""Runs moto's server app for sbx: one request at a time, on a port the OS picks.

    serve.py HOST PORT [DELAY [SEED [QUOTAS]]]

DELAY (seconds, default 0) gives resources the asynchronous states they have on AWS
(`asynchronous_resources`), and AWS's eventual consistency, slow registrations and failures
(`eventual_consistency`, whose failures SEED decides); 0 keeps moto's instant transitions. Either way RunInstances and
CreateNatGateway honour their ClientToken as AWS does (`client_tokens`), and
TransactWriteItems its ClientRequestToken (`transaction_tokens`). QUOTAS
(`instances=N,load_balancers=N`) gives every account a new account's low service quotas
(`service_quotas`).

moto's backends are not safe under concurrent requests: two conditional writes to the same
DynamoDB item can both succeed when their threads interleave. Real AWS makes each call atomic,
so this runs each request under one lock. Transactions back up their items rather than their
tables (`item_level_transactions`). It binds the given port (0 = any free one), prints
"listening <port>" on stdout, and exits when its stdin closes, so it never outlives its parent.
"""

import logging
import os
import sys
import threading

from werkzeug.serving import make_server


def item_level_transactions() -> None:
    """TransactWriteItems that costs what its items cost, as on AWS.

    moto backs a transaction up by deep-copying every table it touches, so each transaction
    costs the size of those tables: a second per call at 100,000 records. Here the tables are
    not copied; the items the transaction names are, and a cancelled transaction puts exactly
    those back. Requests are served one at a time (below), so nothing else can change them
    meanwhile.
    """
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesNotCopied:
        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = TablesNotCopied()
    original = DynamoDBBackend.transact_write_items

    def keys_of(table, op):
        attrs = op.get("Item") or op.get("Key") or {}
        if table.hash_key_attr not in attrs:
            return None
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                return None
            range_key = DynamoType(attrs[table.range_key_attr])
        return hash_key, range_key

    def transact_write_items(self, transact_items):
        undo = []
        for item in transact_items:
            _, op = next(iter(item.items()))
            table = self.tables.get(op.get("TableName"))
            keys = keys_of(table, op) if table is not None else None
            if keys is None:
                continue
            before = table.get_item(*keys)
            undo.append((table, keys, copy.deepcopy(before)))
        try:
            return original(self, transact_items)
        except Exception:
            for table, (hash_key, range_key), before in reversed(undo):
                if range_key is None:
                    if before is None:
                        table.items.pop(hash_key, None)
                    else:
                        table.items[hash_key] = before
                elif before is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = before
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


# The AWS managed policies sbx attaches (the sandbox VMs' SSM role). moto loads either none or
# all of some thousand, per account; these few are loaded in every account instead.
MANAGED_POLICIES = ("AmazonSSMManagedInstanceCore",)


def aws_managed_policies() -> None:
    import json

    from moto.iam import models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    wanted = {name: data for name, data in json.loads(aws_managed_policies_data).items() if name in MANAGED_POLICIES}

    def init(self):
        return [models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, d) for name, d in wanted.items()]

    models.IAMBackend._init_aws_policies = init

# AWS's eventual consistency, propagation delays and failures (`eventual_consistency`), each in
# multiples of the delay D, or a share of the calls, decided by the seeded generator in the
# order the calls arrive.
SSM_REGISTRATION = 2  # an SSM agent registers 2·D after its instance is running
NOT_VISIBLE = 1  # a new id is NotFound to the calls that name it, and missed by describes, for D
IAM_PROPAGATION = 1  # a new instance profile or role is refused for D
INTERFACES_LINGER = 2  # a terminated instance's interface holds its subnet and groups for 2·D
NAT_FAILURE_SHARE = 0.1  # of NAT gateways end `failed` instead of `available`
ACCOUNT_CREATION = 3  # CreateAccount is IN_PROGRESS for 3·D
ACCOUNT_FAILURE_SHARE = 0.2  # of account creations end FAILED (ACCOUNT_LIMIT_EXCEEDED)


class Clock:
    """Transitions due later, applied before each request is served (requests are serialized,
    so nothing else runs meanwhile). Each one carries the generation of its resource it was
    scheduled for, so a later change (a terminate while pending) cancels it."""

    def __init__(self, delay: float, seed: int = 1) -> None:
        import heapq
        import itertools
        import random
        import time

        self.delay = delay
        # The seeded decisions (which NAT gateway or account creation fails), in call order.
        self.rng = random.Random(seed)
        self._heap = []
        self._seq = itertools.count()
        self._heapq = heapq
        self._now = time.monotonic

    def now(self) -> float:
        return self._now()

    def later(self, fn, steps: int = 1) -> None:
        self._heapq.heappush(self._heap, (self._now() + self.delay * steps, next(self._seq), fn))

    def settle(self) -> None:
        now = self._now()
        while self._heap and self._heap[0][0] <= now:
            _, _, fn = self._heapq.heappop(self._heap)
            fn()


def asynchronous_resources(clock: Clock) -> None:
    """The asynchronous states moto 5 skips, with AWS's refusals while they last.

    - Instances: `pending -> running` (2·D after a launch, D after a start), `stopping ->
      stopped`, `shutting-down -> terminated`. Starting an instance that is stopping or gone,
      or stopping one that is pending or shutting down, is refused with
      `IncorrectInstanceState`.
    - NAT gateways: `pending -> available`, or `failed` for a seeded NAT_FAILURE_SHARE (holding
      no address, with a failure message), and `deleting -> deleted`. Releasing an Elastic IP a NAT
      still holds is refused with `AuthFailure`, and giving it to a second NAT with
      `Resource.AlreadyAssociated`, as AWS does.
    - SSM commands: `Pending -> InProgress -> Success`. SendCommand refuses
      (`InvalidInstanceId`) an instance whose SSM agent has not registered: one that is not
      running, has been running for less than SSM_REGISTRATION·D, has no instance profile, or
      whose subnet has no route out through an available NAT gateway or an internet gateway.
    """
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ssm.exceptions import SSMException
    from moto.ssm.models import Command, SimpleSystemManagerBackend

    def refuse(code: str, message: str):
        return EC2ClientError(code, message)

    def move(resource, set_state, now, then, steps: int = 1) -> None:
        """Sets `now` and, after `steps` delays, `then`, unless the resource changed meanwhile."""
        generation = getattr(resource, "_sbx_generation", 0) + 1
        resource._sbx_generation = generation
        set_state(resource, now)

        def finish() -> None:
            if resource._sbx_generation == generation:
                set_state(resource, then)

        clock.later(finish, steps)

    codes = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

    def set_instance(instance, name: str) -> None:
        import time

        instance._state.name = name
        instance._state.code = codes[name]
        # The wall-clock spells it ran, for its CPU metric (`basic_monitoring`).
        spells = instance.__dict__.setdefault("_sbx_ran", [])
        if name == "running":
            instance._sbx_running_since = clock.now()
            if not spells or spells[-1][1] is not None:
                spells.append([time.time(), None])
        elif spells and spells[-1][1] is None:
            spells[-1][1] = time.time()
        if name == "terminated":
            instance._sbx_terminated_at = clock.now()

    original_init = Instance.__init__
    original_start = Instance.start
    original_stop = Instance.stop
    original_terminate = Instance.terminate

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # A launch takes longer than a start.
        move(self, set_instance, "pending", "running", steps=2)

    def start(self):
        import copy

        state = self._state.name
        if state in ("stopping", "shutting-down", "terminated"):
            raise refuse(
                "IncorrectInstanceState",
                f"The instance '{self.id}' is not in a state from which it can be started.",
            )
        if state in ("pending", "running"):
            return copy.copy(self._state)
        previous = original_start(self)
        move(self, set_instance, "pending", "running")
        return previous

    def stop(self):
        import copy

        state = self._state.name
        if state in ("pending", "shutting-down", "terminated"):
            raise refuse(
                "IncorrectInstanceState",
                f"The instance '{self.id}' is not in a state from which it can be stopped.",
            )
        if state in ("stopping", "stopped"):
            return copy.copy(self._state)
        previous = original_stop(self)
        move(self, set_instance, "stopping", "stopped")
        return previous

    def terminate(self):
        import copy

        if self._state.name in ("shutting-down", "terminated"):
            return copy.copy(self._state)
        previous = original_terminate(self)
        move(self, set_instance, "shutting-down", "terminated")
        return previous

    Instance.__init__ = init
    Instance.start = start
    Instance.stop = stop
    Instance.terminate = terminate

    def set_nat(nat, state: str) -> None:
        nat.state = state
        if state == "failed":
            # A failed NAT gateway holds no address, and says why.
            nat.failure_code = "InternalError"
            nat.failure_message = "Network interface or address could not be set up (injected)"
            nat.address_set = []
            for address in nat.ec2_backend.addresses:
                if address.eni is not None and address.eni is getattr(nat, "_eni", None):
                    address.eni = None
                    address.association_id = None

    def holder(backend, allocation_id):
        for nat in backend.nat_gateways.values():
            if nat.state in ("deleted", "failed") or getattr(nat, "failure_code", None):
                continue
            if any(a.get("allocationId") == allocation_id for a in nat.address_set):
                return nat
        return None

    original_create_nat = EC2Backend.create_nat_gateway
    original_release = EC2Backend.release_address

    def create_nat_gateway(self, subnet_id, allocation_id, *args, **kwargs):
        if allocation_id and holder(self, allocation_id) is not None:
            raise refuse("Resource.AlreadyAssociated", f"Elastic IP address [{allocation_id}] is already associated")
        nat = original_create_nat(self, subnet_id, allocation_id, *args, **kwargs)
        fails = clock.rng.random() < NAT_FAILURE_SHARE
        move(nat, set_nat, "pending", "failed" if fails else "available")
        return nat

    def delete_nat_gateway(self, nat_gateway_id):
        nat = self.nat_gateways.get(nat_gateway_id)
        if nat is None:
            raise refuse("NatGatewayNotFound", f"The Nat Gateway {nat_gateway_id} was not found")
        if nat.state not in ("deleting", "deleted"):
            move(nat, set_nat, "deleting", "deleted")
        return nat

    def release_address(self, address=None, allocation_id=None):
        if allocation_id and holder(self, allocation_id) is not None:
            raise refuse("AuthFailure", "You do not have permission to access the specified resource.")
        return original_release(self, address=address, allocation_id=allocation_id)

    EC2Backend.create_nat_gateway = create_nat_gateway
    EC2Backend.delete_nat_gateway = delete_nat_gateway
    EC2Backend.release_address = release_address

    def set_command(command, status: str) -> None:
        command.status = status
        for invocation in command.invocations:
            invocation["Status"] = status
            invocation["StatusDetails"] = status

    original_command_init = Command.__init__

    def command_init(self, *args, **kwargs):
        original_command_init(self, *args, **kwargs)
        set_command(self, "Pending")
        clock.later(lambda: set_command(self, "InProgress"), 1)
        clock.later(lambda: set_command(self, "Success"), 2)

    Command.__init__ = command_init

    def reachable(ec2, instance) -> bool:
        """Whether the SSM agent on `instance` could reach SSM: a route out of its subnet."""
        subnet = getattr(instance, "subnet_id", None)
        tables = [t for t in ec2.route_tables.values() if subnet in t._associations.values()]
        if not tables:
            tables = [t for t in ec2.route_tables.values() if t.vpc_id == instance.vpc_id and t.main_association_id]
        for table in tables:
            for route in table.routes:
                if route.destination_cidr_block != "0.0.0.0/0":
                    continue
                if route.nat_gateway is not None and route.nat_gateway.state == "available":
                    return True
                gateway = route.gateway
                if gateway is not None and getattr(gateway, "id", "").startswith("igw-"):
                    return True
        return False

    original_send = SimpleSystemManagerBackend.send_command

    def send_command(self, *args, **kwargs):
        from moto.ec2.models import ec2_backends

        ec2 = ec2_backends[self.account_id][self.region_name]
        instance_ids = kwargs.get("instance_ids") or []
        for instance_id in instance_ids:
            try:
                instance = ec2.get_instance(instance_id)
            except Exception:
                instance = None
            registered = (
                instance is not None
                and instance._state.name == "running"
                and clock.now() - getattr(instance, "_sbx_running_since", 0.0) >= SSM_REGISTRATION * clock.delay
                and ec2.iam_instance_profile_associations.get(instance_id) is not None
                and reachable(ec2, instance)
            )
            if not registered:
                raise SSMException(
                    "InvalidInstanceId",
                    f"Instance {instance_id} is not registered with SSM: not running, running for less "
                    "than the agent takes to register, no instance profile, or no route out of its subnet",
                )
        return original_send(self, *args, **kwargs)

    SimpleSystemManagerBackend.send_command = send_command


# What each EC2 and ELB call names, by parameter, and the code AWS answers while that id is too
# new for the call to see it.
REFERENCES = {
    "AttachInternetGateway": [
        (r"InternetGatewayId", "InvalidInternetGatewayID.NotFound"),
        (r"VpcId", "InvalidVpcID.NotFound"),
    ],
    "AuthorizeSecurityGroupIngress": [
        (r"GroupId", "InvalidGroup.NotFound"),
        (r"IpPermissions\.\d+\.Groups\.\d+\.GroupId", "InvalidGroup.NotFound"),
    ],
    "AssociateRouteTable": [
        (r"RouteTableId", "InvalidRouteTableID.NotFound"),
        (r"SubnetId", "InvalidSubnetID.NotFound"),
    ],
    "ReplaceRouteTableAssociation": [(r"RouteTableId", "InvalidRouteTableID.NotFound")],
    "CreateRoute": [
        (r"RouteTableId", "InvalidRouteTableID.NotFound"),
        (r"NatGatewayId", "InvalidNatGatewayID.NotFound"),
        (r"GatewayId", "InvalidGatewayID.NotFound"),
    ],
    "ReplaceRoute": [
        (r"RouteTableId", "InvalidRouteTableID.NotFound"),
        (r"NatGatewayId", "InvalidNatGatewayID.NotFound"),
        (r"GatewayId", "InvalidGatewayID.NotFound"),
    ],
    "RunInstances": [
        (r"SubnetId", "InvalidSubnetID.NotFound"),
        (r"SecurityGroupId\.\d+", "InvalidGroup.NotFound"),
    ],
    "CreateSubnet": [(r"VpcId", "InvalidVpcID.NotFound")],
    "CreateSecurityGroup": [(r"VpcId", "InvalidVpcID.NotFound")],
    "CreateRouteTable": [(r"VpcId", "InvalidVpcID.NotFound")],
    "CreateNatGateway": [(r"SubnetId", "InvalidSubnetID.NotFound")],
    "StartInstances": [(r"InstanceId\.\d+", "InvalidInstanceID.NotFound")],
    "TerminateInstances": [(r"InstanceId\.\d+", "InvalidInstanceID.NotFound")],
    # Describes that name ids: an id too new is not found (describes without ids miss it).
    "DescribeInstances": [(r"InstanceId\.\d+", "InvalidInstanceID.NotFound")],
    "DescribeVpcs": [(r"VpcId\.\d+", "InvalidVpcID.NotFound")],
    "DescribeSubnets": [(r"SubnetId\.\d+", "InvalidSubnetID.NotFound")],
    "DescribeSecurityGroups": [(r"GroupId\.\d+", "InvalidGroup.NotFound")],
    "DescribeInternetGateways": [(r"InternetGatewayId\.\d+", "InvalidInternetGatewayID.NotFound")],
    "DescribeRouteTables": [(r"RouteTableId\.\d+", "InvalidRouteTableID.NotFound")],
    "DescribeNatGateways": [(r"NatGatewayId\.\d+", "NatGatewayNotFound")],
    "StopInstances": [(r"InstanceId\.\d+", "InvalidInstanceID.NotFound")],
    # Elastic Load Balancing
    "RegisterTargets": [(r"Targets\.member\.\d+\.Id", "InvalidTarget")],
    "CreateLoadBalancer": [
        (r"Subnets\.member\.\d+", "SubnetNotFound"),
        (r"SecurityGroups\.member\.\d+", "InvalidSecurityGroup"),
    ],
}


# EC2's basic monitoring: 5-minute periods, each reported some minutes after it ends.
CPU_PERIOD = 300
CPU_REPORTED_AFTER = 300
# What an instance with nothing to do reports, in percent.
CPU_IDLE = 0.5


def basic_monitoring() -> None:
    """EC2's basic monitoring, which moto does not do: every instance reports its
    `CPUUtilization` (`AWS/EC2`, by `InstanceId`) for each 5-minute period it ran in (from
    `asynchronous_resources`' spells), CPU_REPORTED_AFTER seconds after the period ends, at an
    idle CPU_IDLE percent. Nothing is reported for a period that has not ended that long ago,
    or that the instance did not run in, as on AWS. A workload's own figures (PutMetricData, as
    the tests put them) sit beside these, and the query's statistic picks among them."""
    import time
    from datetime import datetime, timezone

    from moto.cloudwatch.models import CloudWatchBackend, MetricDatum
    from moto.ec2.models import ec2_backends

    reported = set()
    original = CloudWatchBackend.get_metric_data

    def instance_of(backend, instance_id):
        try:
            ec2 = ec2_backends[backend.account_id][backend.region_name]
        except KeyError:
            return None
        for reservation in ec2.reservations.values():
            for instance in reservation.instances:
                if instance.id == instance_id:
                    return instance
        return None

    def report(backend, instance) -> None:
        settled = time.time() - CPU_REPORTED_AFTER
        for began, ended in getattr(instance, "_sbx_ran", []):
            period = int(began // CPU_PERIOD) * CPU_PERIOD
            last = settled if ended is None else min(ended, settled)
            while period + CPU_PERIOD <= settled and period < last:
                key = (backend.account_id, backend.region_name, instance.id, period)
                if key not in reported:
                    reported.add(key)
                    backend.metric_data.append(
                        MetricDatum(
                            "AWS/EC2",
                            "CPUUtilization",
                            CPU_IDLE,
                            [{"Name": "InstanceId", "Value": instance.id}],
                            datetime.fromtimestamp(period, timezone.utc).replace(tzinfo=None),
                            "Percent",
                        )
                    )
                period += CPU_PERIOD

    def get_metric_data(self, queries, *args, **kwargs):
        for query in queries:
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") != "AWS/EC2" or metric.get("MetricName") != "CPUUtilization":
                continue
            for dimension in metric.get("Dimensions", []):
                if dimension.get("Name") == "InstanceId":
                    instance = instance_of(self, dimension.get("Value"))
                    if instance is not None:
                        report(self, instance)
        return original(self, queries, *args, **kwargs)

    CloudWatchBackend.get_metric_data = get_metric_data


def eventual_consistency(clock: Clock):
    """AWS's eventual consistency, slow registrations and failures, which moto skips. Returns
    the check the server makes before serving each request (`refuse_young`).

    - A new VPC, subnet, security group, internet gateway, route table, NAT gateway or instance
      is `*.NotFound` to the calls that name it (REFERENCES) for NOT_VISIBLE·D, and describes
      that do not name ids miss it for as long.
    - A new instance profile is refused by RunInstances (`InvalidParameterValue`, "Invalid IAM
      Instance Profile name"), and a new role by AssumeRole (`AccessDenied`), for
      IAM_PROPAGATION·D.
    - DeleteSubnet and DeleteSecurityGroup answer `DependencyViolation` while an instance in
      them is not terminated, and for INTERFACES_LINGER·D after (its network interface).
    - CreateAccount is IN_PROGRESS for ACCOUNT_CREATION·D, then SUCCEEDED or, for a seeded
      ACCOUNT_FAILURE_SHARE, FAILED with ACCOUNT_LIMIT_EXCEEDED (the account never appears).

    (The SSM registration lag, NAT gateways that fail and pending instances that refuse a stop
    are in `asynchronous_resources`.)
    """
    import inspect
    import io
    import re
    from urllib.parse import parse_qs

    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.security_groups import SecurityGroup
    from moto.ec2.models.subnets import Subnet
    from moto.ec2.models.vpcs import VPC
    from moto.iam.models import IAMBackend
    from moto.organizations import models as organizations
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    window = NOT_VISIBLE * clock.delay
    born = {}
    serving = {"action": None}

    def young(resource_id) -> bool:
        at = born.get(resource_id)
        return at is not None and clock.now() - at < window

    def record(cls) -> None:
        original = cls.__init__

        def init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            born.setdefault(self.id, clock.now())

        cls.__init__ = init

    for cls in (VPC, Subnet, SecurityGroup, InternetGateway, RouteTable, NatGateway, Instance):
        record(cls)

    def hide_new(method, ids_parameter, action, id_of=lambda r: r.id):
        original = getattr(EC2Backend, method)
        signature = inspect.signature(original)

        def describe(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            named = signature.bind(self, *args, **kwargs).arguments.get(ids_parameter)
            if serving["action"] != action or named:
                return result
            return [r for r in result if not young(id_of(r))]

        setattr(EC2Backend, method, describe)

    hide_new("describe_vpcs", "vpc_ids", "DescribeVpcs")
    hide_new("describe_subnets", "subnet_ids", "DescribeSubnets")
    hide_new("describe_security_groups", "group_ids", "DescribeSecurityGroups")
    hide_new("describe_internet_gateways", "internet_gateway_ids", "DescribeInternetGateways")
    hide_new("describe_route_tables", "route_table_ids", "DescribeRouteTables")
    hide_new("describe_nat_gateways", "nat_gateway_ids", "DescribeNatGateways")

    original_describe_instances = EC2Backend.describe_instances

    def describe_instances(self, *args, **kwargs):
        import copy

        reservations = original_describe_instances(self, *args, **kwargs)
        if serving["action"] != "DescribeInstances":
            return reservations
        shown = []
        for reservation in reservations:
            instances = [i for i in reservation.instances if not young(i.id)]
            if instances:
                visible = copy.copy(reservation)
                visible.instances = instances
                shown.append(visible)
        return shown

    EC2Backend.describe_instances = describe_instances

    # IAM propagation.
    iam_born = {}

    def iam_young(account_id, kind, name) -> bool:
        at = iam_born.get((account_id, kind, name))
        return at is not None and clock.now() - at < IAM_PROPAGATION * clock.delay

    original_create_profile = IAMBackend.create_instance_profile
    original_create_role = IAMBackend.create_role

    def create_instance_profile(self, name, *args, **kwargs):
        profile = original_create_profile(self, name, *args, **kwargs)
        iam_born[(self.account_id, "profile", name)] = clock.now()
        return profile

    def create_role(self, role_name, *args, **kwargs):
        role = original_create_role(self, role_name, *args, **kwargs)
        iam_born[(self.account_id, "role", role_name)] = clock.now()
        return role

    IAMBackend.create_instance_profile = create_instance_profile
    IAMBackend.create_role = create_role

    original_run = EC2Backend.run_instances

    def run_instances(self, *args, **kwargs):
        name = kwargs.get("iam_instance_profile_name") or (kwargs.get("iam_instance_profile_arn") or "").rsplit("/", 1)[-1]
        if name and iam_young(self.account_id, "profile", name):
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
            )
        return original_run(self, *args, **kwargs)

    EC2Backend.run_instances = run_instances

    original_assume = STSBackend.assume_role

    def assume_role(self, *args, **kwargs):
        arn = kwargs.get("role_arn") or (args[2] if len(args) > 2 else "")
        match = re.match(r"arn:aws:iam::(\d+):role/(?:.*/)?([^/]+)$", arn or "")
        if match and iam_young(match.group(1), "role", match.group(2)):
            raise STSClientError(
                "AccessDenied",
                f"User is not authorized to perform: sts:AssumeRole on resource: {arn}",
            )
        return original_assume(self, *args, **kwargs)

    STSBackend.assume_role = assume_role

    # Network interfaces that outlive their instances.
    def holds(instance, matches) -> bool:
        state = instance._state.name
        if state != "terminated":
            return matches(instance)
        ended = getattr(instance, "_sbx_terminated_at", None)
        return ended is not None and clock.now() - ended < INTERFACES_LINGER * clock.delay and matches(instance)

    def dependency(what):
        return EC2ClientError("DependencyViolation", f"The {what} has dependencies and cannot be deleted.")

    original_delete_subnet = EC2Backend.delete_subnet
    original_delete_group = EC2Backend.delete_security_group

    def delete_subnet(self, subnet_id):
        if any(holds(i, lambda i: i.subnet_id == subnet_id) for i in self.all_instances()):
            raise dependency(f"subnet '{subnet_id}'")
        return original_delete_subnet(self, subnet_id)

    def delete_security_group(self, name=None, group_id=None):
        def member(instance) -> bool:
            return any(getattr(g, "id", g) == group_id for g in (instance.security_groups or []))

        if group_id and any(holds(i, member) for i in self.all_instances()):
            raise dependency(f"security group '{group_id}'")
        return original_delete_group(self, name=name, group_id=group_id)

    EC2Backend.delete_subnet = delete_subnet
    EC2Backend.delete_security_group = delete_security_group

    # Account creation.
    from moto.core.utils import unix_time

    def creation_status(self):
        state = getattr(self, "_sbx_state", "SUCCEEDED")
        status = {
            "Id": self.create_account_status_id,
            "AccountName": self.name,
            "State": state,
            "RequestedTimestamp": unix_time(self.create_time),
        }
        if state == "SUCCEEDED":
            status["AccountId"] = self.id
            status["CompletedTimestamp"] = getattr(self, "_sbx_completed", unix_time(self.create_time))
        elif state == "FAILED":
            status["FailureReason"] = "ACCOUNT_LIMIT_EXCEEDED"
            status["CompletedTimestamp"] = self._sbx_completed
        return {"CreateAccountStatus": status}

    organizations.FakeAccount.create_account_status = property(creation_status)
    backend = organizations.OrganizationsBackend
    original_create_account = backend.create_account

    def create_account(self, **kwargs):
        original_create_account(self, **kwargs)
        account = self.accounts[-1]
        account._sbx_state = "IN_PROGRESS"
        fails = clock.rng.random() < ACCOUNT_FAILURE_SHARE

        def finish() -> None:
            account._sbx_completed = unix_time()
            if fails:
                account._sbx_state = "FAILED"
                if account in self.accounts:
                    self.accounts.remove(account)
                organizations.organizations_backends.master_accounts.pop(account.id, None)
                self._sbx_failed = getattr(self, "_sbx_failed", []) + [account]
            else:
                account._sbx_state = "SUCCEEDED"

        clock.later(finish, ACCOUNT_CREATION)
        return account.create_account_status

    def with_failed(original):
        def call(self, **kwargs):
            kept = self.accounts
            self.accounts = kept + getattr(self, "_sbx_failed", [])
            try:
                return original(self, **kwargs)
            finally:
                self.accounts = kept

        return call

    backend.create_account = create_account
    backend.list_create_account_status = with_failed(backend.list_create_account_status)
    backend.describe_create_account_status = with_failed(backend.describe_create_account_status)

    ec2_error = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
        "<Message>{message}</Message></Error></Errors><RequestID>sbx-not-visible</RequestID></Response>"
    )
    elb_error = (
        '<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error>'
        "<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>sbx-not-visible</RequestId></ErrorResponse>"
    )

    def refuse_young(environ):
        """`(status, body)` refusing a request that names an id too new to see, else None;
        notes the action served, for the describes."""
        serving["action"] = None
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        service = "ec2" if "/ec2/aws4_request" in authorization else None
        if "/elasticloadbalancing/aws4_request" in authorization:
            service = "elb"
        if service is None:
            return None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        action = params.get("Action")
        serving["action"] = action
        for pattern, code in REFERENCES.get(action, []):
            for key, value in params.items():
                if re.fullmatch(pattern, key) and young(value):
                    message = f"The ID '{value}' does not exist"
                    template = ec2_error if service == "ec2" else elb_error
                    return 400, template.format(code=code, message=message).encode()
        return None

    return refuse_young


def service_quotas(spec: str) -> None:
    """A new account's low service quotas, per account: `instances=N` (instances not
    terminated; RunInstances beyond it answers `InstanceLimitExceeded`) and `load_balancers=N`
    (CreateLoadBalancer beyond it answers `TooManyLoadBalancers`), as AWS refuses them until
    the quota is raised. Off unless asked for (`--aws-quotas`)."""
    limits = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        limits[name] = int(value)
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import EC2Backend
    from moto.elbv2.exceptions import ELBClientError
    from moto.elbv2.models import ELBv2Backend

    if "instances" in limits:
        limit = limits["instances"]
        original_run = EC2Backend.run_instances

        def run_instances(self, *args, **kwargs):
            count = kwargs.get("count") or (args[1] if len(args) > 1 else 1)
            live = [i for i in self.all_instances() if i._state.name != "terminated"]
            if len(live) + int(count) > limit:
                raise EC2ClientError(
                    "InstanceLimitExceeded",
                    f"You have requested more instances ({len(live) + int(count)}) than your current instance limit of {limit} allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.",
                )
            return original_run(self, *args, **kwargs)

        EC2Backend.run_instances = run_instances
    if "load_balancers" in limits:
        limit = limits["load_balancers"]
        original_create = ELBv2Backend.create_load_balancer

        def create_load_balancer(self, *args, **kwargs):
            if len(self.load_balancers) >= limit:
                raise ELBClientError("TooManyLoadBalancers", f"The quota for the number of load balancers ({limit}) has been reached.")
            return original_create(self, *args, **kwargs)

        ELBv2Backend.create_load_balancer = create_load_balancer


def client_tokens() -> None:
    """RunInstances, CreateNatGateway and CreateRouteTable are idempotent by ClientToken, as on
    AWS.

    moto ignores the token, so a call repeated after its answer was lost makes a second
    instance or NAT gateway. AWS answers the repeat with what the first call made (in its
    current state); so does this, per account and region.
    """
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.nat_gateways import NatGateways
    from moto.ec2.responses.route_tables import RouteTables

    seen = {}

    def once(action, original):
        def call(self):
            token = self._get_param("ClientToken")
            if not token:
                return original(self)
            key = (self.current_account, self.region, action, token)
            if key not in seen:
                seen[key] = original(self)
            return seen[key]

        return call

    InstanceResponse.run_instances = once("RunInstances", InstanceResponse.run_instances)
    NatGateways.create_nat_gateway = once("CreateNatGateway", NatGateways.create_nat_gateway)
    RouteTables.create_route_table = once("CreateRouteTable", RouteTables.create_route_table)


def transaction_tokens() -> None:
    """TransactWriteItems is idempotent by ClientRequestToken for ten minutes, as on AWS.

    moto ignores the token, so a transaction repeated after its answer was lost is applied
    again, or (its conditions no longer holding) cancelled. AWS answers a repeat of a
    transaction that succeeded with success and changes nothing; a repeat with other items is
    refused with IdempotentParameterMismatchException.
    """
    import json
    import time

    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    done = {}

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        key = (self.current_account, self.region, token)
        items = json.dumps(self.body["TransactItems"], sort_keys=True)
        now = time.monotonic()
        for old in [k for k, (at, _, _) in done.items() if now - at > 600]:
            del done[old]
        if key in done:
            _, seen_items, result = done[key]
            if seen_items != items:
                raise JsonRESTError(
                    "IdempotentParameterMismatchException",
                    "The request uses the same client token as a previous, but non-identical request.",
                )
            return result
        result = original(self)
        done[key] = (now, items, result)
        return result

    DynamoHandler.transact_write_items = transact_write_items


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    quotas = sys.argv[5] if len(sys.argv) > 5 else ""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # STS's model names no AccessDenied shape; moto warns on each one it answers.
    import warnings

    warnings.filterwarnings("ignore", message=".*does not match an error shape.*")

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    item_level_transactions()
    aws_managed_policies()
    client_tokens()
    transaction_tokens()
    service_quotas(quotas)
    clock = Clock(delay, seed)
    refuse_young = None
    if delay > 0:
        asynchronous_resources(clock)
        basic_monitoring()
        refuse_young = eventual_consistency(clock)
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            clock.settle()
            refused = refuse_young(environ) if refuse_young is not None else None
            if refused is not None:
                status, body = refused
                start_response(f"{status} Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
                return [body]
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    server = make_server(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)
    os.environ["MOTO_PORT"] = str(server.server_port)

    def exit_when_parent_goes() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
