"""Runs moto's server app for sbx: one request at a time, on a port the OS picks.

    serve.py HOST PORT [DELAY]

DELAY (seconds, default 0) gives resources the asynchronous states they have on AWS
(`asynchronous_resources`); 0 keeps moto's instant transitions. Either way RunInstances and
CreateNatGateway honour their ClientToken as AWS does (`client_tokens`), and
TransactWriteItems its ClientRequestToken (`transaction_tokens`).

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


class Clock:
    """Transitions due later, applied before each request is served (requests are serialized,
    so nothing else runs meanwhile). Each one carries the generation of its resource it was
    scheduled for, so a later change (a terminate while pending) cancels it."""

    def __init__(self, delay: float) -> None:
        import heapq
        import itertools
        import time

        self.delay = delay
        self._heap = []
        self._seq = itertools.count()
        self._heapq = heapq
        self._now = time.monotonic

    def later(self, fn, steps: int = 1) -> None:
        self._heapq.heappush(self._heap, (self._now() + self.delay * steps, next(self._seq), fn))

    def settle(self) -> None:
        now = self._now()
        while self._heap and self._heap[0][0] <= now:
            _, _, fn = self._heapq.heappop(self._heap)
            fn()


def asynchronous_resources(clock: Clock) -> None:
    """The asynchronous states moto 5 skips, with AWS's refusals while they last.

    - Instances: `pending -> running`, `stopping -> stopped`, `shutting-down -> terminated`.
      Starting an instance that is stopping or gone, or stopping one that is shutting down, is
      refused with `IncorrectInstanceState`.
    - NAT gateways: `pending -> available`, `deleting -> deleted`. Releasing an Elastic IP a NAT
      still holds is refused with `AuthFailure`, and giving it to a second NAT with
      `Resource.AlreadyAssociated`, as AWS does.
    - SSM commands: `Pending -> InProgress -> Success`. SendCommand refuses
      (`InvalidInstanceId`) an instance the SSM agent could not register from: one that is not
      running, has no instance profile, or whose subnet has no route out through an available
      NAT gateway or an internet gateway.
    """
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ssm.exceptions import SSMException
    from moto.ssm.models import Command, SimpleSystemManagerBackend

    def refuse(code: str, message: str):
        return EC2ClientError(code, message)

    def move(resource, set_state, now, then) -> None:
        """Sets `now` and, after the delay, `then`, unless the resource changed meanwhile."""
        generation = getattr(resource, "_sbx_generation", 0) + 1
        resource._sbx_generation = generation
        set_state(resource, now)

        def finish() -> None:
            if resource._sbx_generation == generation:
                set_state(resource, then)

        clock.later(finish)

    codes = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

    def set_instance(instance, name: str) -> None:
        instance._state.name = name
        instance._state.code = codes[name]

    original_init = Instance.__init__
    original_start = Instance.start
    original_stop = Instance.stop
    original_terminate = Instance.terminate

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        move(self, set_instance, "pending", "running")

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
        if state in ("shutting-down", "terminated"):
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

    def holder(backend, allocation_id):
        for nat in backend.nat_gateways.values():
            if nat.state == "deleted":
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
        move(nat, set_nat, "pending", "available")
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
                and ec2.iam_instance_profile_associations.get(instance_id) is not None
                and reachable(ec2, instance)
            )
            if not registered:
                raise SSMException(
                    "InvalidInstanceId",
                    f"Instance {instance_id} is not registered with SSM: not running, no instance "
                    "profile, or no route out of its subnet",
                )
        return original_send(self, *args, **kwargs)

    SimpleSystemManagerBackend.send_command = send_command


def client_tokens() -> None:
    """RunInstances and CreateNatGateway are idempotent by ClientToken, as on AWS.

    moto ignores the token, so a call repeated after its answer was lost makes a second
    instance or NAT gateway. AWS answers the repeat with what the first call made (in its
    current state); so does this, per account and region.
    """
    from moto.ec2.responses.instances import InstanceResponse
    from moto.ec2.responses.nat_gateways import NatGateways

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
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    item_level_transactions()
    aws_managed_policies()
    client_tokens()
    transaction_tokens()
    clock = Clock(delay)
    if delay > 0:
        asynchronous_resources(clock)
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            clock.settle()
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
