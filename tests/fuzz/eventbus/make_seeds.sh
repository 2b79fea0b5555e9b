#!/bin/sh
# Writes the seed corpus for wire_differential_fuzz from text-format messages (run once; the
# output is committed): one whole body of each kind the bus reads by hand, after the byte that says
# "the rest is the body" (an even first byte; see wire_differential_fuzz.cpp).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../../proto" && pwd)
out="$here/corpus"
mkdir -p "$out"
enc() {
    printf '\000' > "$out/$3"
    protoc -I"$proto" --encode="$1" "$proto/$2" >> "$out/$3"
}
enc daemoneye.bus.v1.Message daemoneye/bus/v1/bus.proto message <<'TXT'
topic: "events.process.start"
payload_type: "daemoneye.events.v1.ProcessEvent"
payload: "\010\226\001\022\004bash"
timestamp { unix_nanos: 1763700000123456789 }
source_session: 42
correlation { correlation_id: "agent-1-42-7" parent_correlation_id: "p" root_correlation_id: "r"
              sequence_number: 9 workflow_stage: "collect" tags { key: "host" value: "h1" } }
TXT
enc daemoneye.rpc.v1.RpcRequest daemoneye/rpc/v1/rpc.proto rpc_request <<'TXT'
correlation_id: "cli-7-1"
client_id: "daemoneye-cli"
target: "control.collector.procmond"
operation: OPERATION_HEALTH_CHECK
timestamp { unix_nanos: 1234567890123 }
timeout_ms: 30000
reply_to: "control.rpc.reply.9"
correlation { workflow_stage: "stage" }
health_check { verbose: true }
TXT
enc daemoneye.rpc.v1.RpcResponse daemoneye/rpc/v1/rpc.proto rpc_response <<'TXT'
correlation_id: "cli-7-1"
status: STATUS_ERROR
error { message: "nope" }
execution_time_us: 17
responder: "procmond"
correlation { sequence_number: 3 }
TXT
