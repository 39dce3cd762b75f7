"""`make soak`: steady load while the pipeline is broken on purpose, then a line-by-line ledger.

While ``python -m loadgen load`` sends the mix at a steady rate, one run injects, in order:

1. Elasticsearch stopped for ``--es-outage`` seconds, then started (native/elasticsearch.sh);
   with ``--es-node I`` only node I of a cluster (``ES_NODES``), the others keep serving;
2. Filebeat killed with SIGKILL, started again ``--filebeat-down`` seconds later;
3. the service's log files rotated ``--rotations`` times, evenly over the whole load, so
   some rotations land inside the faults above (native/service.sh rotate: rename + SIGUSR1);
4. ``--bursts`` bursts of ``--burst-size`` concurrent 500s (/api/error, failing 400 levels
   deep) whose error lines exceed the service's 64 KiB line bound, so they are written cut.

After each of 1 and 2 it waits (up to DRAIN_CAP_S) until every ID sent so far is searchable,
so the next fault starts from a drained pipeline. Meanwhile it searches Elasticsearch four
times a second for the IDs not yet found, to time recovery. Then the ledger
(soak/ledger.py): per fault and for the whole run, the lines the service wrote (every
.run/logs/*.ndjson* file, rotated ones too) against the documents, lost and duplicated, and
documents Filebeat could not decode. Exit 0 only if nothing was lost, doubled or undecodable.

``--mode compose`` (``make soak MODE=compose``) runs the same soak through Filebeat's compose
mode: the native Filebeat is stopped, a relay (loadgen.dockerlog.Relay) copies every line the
service writes into ``.run/containers/<64-hex id>/<id>-json.log`` exactly as Docker's
json-file driver would (envelope, max-size/max-file rotation: ``--docker-max-size``,
``--docker-max-file``), and Filebeat runs with inputs.d/compose.yml on that directory
(native/filebeat.sh with FILEBEAT_MODE=compose). The rotations of 3. are then Docker's (the
live file renamed to .1, .1 to .2, the oldest deleted, a new file), besides those max-size
causes. Afterwards the native Filebeat runs again.

Needs the native stack (`make native-up`): the faults are its scripts. The run folder
``runs/soak-<UTC time>/`` holds the load's own run folder, bursts.jsonl (the burst requests,
manifest format), faults.jsonl (what happened when), searchable.jsonl, faults.log (the
scripts' output), load.log and soak.txt (what this printed).
"""

from __future__ import annotations

import sys


class SoakError(Exception):
    """The soak could not run as planned (a script failed, the stack is not up)."""


def say(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)
