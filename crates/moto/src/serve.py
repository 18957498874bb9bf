"""Runs moto's server app for sbx: one request at a time, on a port the OS picks.

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


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    item_level_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
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
