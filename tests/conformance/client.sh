#!/usr/bin/env bash
# The client adapter of the MCP conformance runs (tests/conformance/run.mjs): the suite's runner
# starts it as `bash tests/conformance/client.sh URL` with the scenario's name in
# MCP_CONFORMANCE_SCENARIO, its context (JSON, some scenarios only) in MCP_CONFORMANCE_CONTEXT
# and, from 0.2 on, the revision in MCP_CONFORMANCE_PROTOCOL_VERSION (the CLI negotiates it
# itself). It maps each scenario to `waymark mcp tools` / `waymark mcp call` runs; the suite's
# checks, not this script, decide whether the client did the right thing.
#
# Env: WAYMARK_BIN (default target/debug/waymark), WAYMARK_CONFORMANCE_NODE (the node that runs
# follow.mjs and parses JSON; default `node`).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
url="${*: -1}"
scenario="${MCP_CONFORMANCE_SCENARIO:?the conformance runner sets MCP_CONFORMANCE_SCENARIO}"
node="${WAYMARK_CONFORMANCE_NODE:-node}"
bin="${WAYMARK_BIN:-$root/target/debug/waymark}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

# A fresh database and secret file per scenario: tokens never reach the keychain and no run
# sees another's sign-in or registration.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export WAYMARK_HOME="$tmp" WAYMARK_SECRET_BACKEND=file
unset BROWSER WAYMARK_DB

echo "client.sh: scenario $scenario, protocol ${MCP_CONFORMANCE_PROTOCOL_VERSION:-unset}, url $url" >&2

# The sign-in "browser": GETs the authorization URL and follows the redirect to the CLI's
# loopback listener. The wait stays under the runner's 30 s so a stuck sign-in fails as itself.
sign_in=(--open-with "$node $here/follow.mjs" --sign-in-wait-secs 20)

wm() {
    local sub="$1"
    shift
    echo "client.sh: waymark mcp $sub $*" >&2
    "$bin" --db "$tmp/waymark.db" mcp "$sub" --url "$url" "$@"
}
tools() { wm tools "$@"; }
call() { wm call --timeout-secs 20 "$@"; }

# ctx KEY: the context's KEY (strings bare, anything else as JSON), empty when absent.
ctx() {
    "$node" -e '
        const c = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT || "{}");
        const v = c[process.argv[1]];
        if (v !== undefined && v !== null) process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
    ' "$1"
}

# keep CMD...: runs one of several commands; the script's status is the first non-zero one.
status=0
keep() {
    "$@"
    local s=$?
    [ "$status" -ne 0 ] || status=$s
}

case "$scenario" in
initialize | request-metadata | json-schema-ref-no-deref | sep-2640-*)
    # Connect and list tools (no skills support in the client: the sep-2640 ones list tools).
    tools
    status=$?
    ;;
tools_call)
    call add_numbers '{"a":2,"b":3}'
    status=$?
    ;;
elicitation-sep1034-client-defaults)
    # The server asks during the call; no person here, so the form's defaults answer it.
    call --elicitation accept-defaults test_client_elicitation_defaults '{}'
    status=$?
    ;;
sse-retry)
    call test_reconnection '{}'
    status=$?
    ;;
sep-2322-client-request-state)
    for tool in test_mrtr_echo_state test_mrtr_no_state test_mrtr_unrelated test_mrtr_no_result_type; do
        keep call "$tool" '{}'
    done
    ;;
http-standard-headers)
    keep call test_headers '{}'
    keep call my-hyphenated-tool '{}'
    ;;
http-custom-headers)
    # The calls the context names, in order, with their arguments.
    calls="$(ctx toolCalls)"
    n="$("$node" -e 'process.stdout.write(String(JSON.parse(process.argv[1] || "[]").length))' "$calls")"
    for ((i = 0; i < n; i++)); do
        name="$("$node" -e 'process.stdout.write(JSON.parse(process.argv[1])[+process.argv[2]].name)' "$calls" "$i")"
        args="$("$node" -e 'process.stdout.write(JSON.stringify(JSON.parse(process.argv[1])[+process.argv[2]].arguments ?? {}))' "$calls" "$i")"
        # Sent as given (verbose:null for a boolean too): the scenario checks the headers the
        # client derives from each value, not the client's own schema check.
        keep call --unchecked "$name" "$args"
    done
    ;;
http-invalid-tool-headers)
    # Call every tool the client keeps from the list (arguments made up from each schema): a
    # client that excludes the tools with invalid x-mcp-header annotations calls valid_tool only.
    listed="$(tools --json)"
    status=$?
    echo "$listed" >"$tmp/tools.json"
    while IFS=$'\t' read -r name args; do
        [ -n "$name" ] || continue
        keep call "$name" "$args"
    done < <("$node" -e '
        const fs = require("fs");
        let tools = JSON.parse(fs.readFileSync(process.argv[1], "utf8") || "[]");
        if (!Array.isArray(tools)) tools = tools.tools || [];
        const sample = (s) => {
            switch (s && s.type) {
                case "string": return "us-west1";
                case "number": case "integer": return 1;
                case "boolean": return true;
                case "object": return {};
                case "array": return [];
                case "null": return null;
                default: return "x";
            }
        };
        for (const t of tools) {
            const props = (t.inputSchema || t.input_schema || {}).properties || {};
            const args = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, sample(s)]));
            console.log(`${t.name}\t${JSON.stringify(args)}`);
        }
    ' "$tmp/tools.json")
    ;;
json-schema-2020-12-preservation)
    # Echo json_schema_2020_12_tool's input schema, as the client keeps it, to json_schema_echo.
    tools --json >"$tmp/tools.json"
    status=$?
    "$node" -e '
        const fs = require("fs");
        let tools = JSON.parse(fs.readFileSync(process.argv[1], "utf8") || "[]");
        if (!Array.isArray(tools)) tools = tools.tools || [];
        const t = tools.find((t) => t.name === "json_schema_2020_12_tool");
        if (!t) { console.error("client.sh: json_schema_2020_12_tool is not in the list"); process.exit(1); }
        fs.writeFileSync(process.argv[2], JSON.stringify({ schema: t.inputSchema ?? t.input_schema }));
    ' "$tmp/tools.json" "$tmp/echo.json" && keep call json_schema_echo "@$tmp/echo.json"
    ;;
auth/pre-registration)
    call --client-id "$(ctx client_id)" --client-secret "$(ctx client_secret)" "${sign_in[@]}" test-tool '{}'
    status=$?
    ;;
auth/basic-cimd)
    call --client-metadata-url https://conformance-test.local/client-metadata.json "${sign_in[@]}" test-tool '{}'
    status=$?
    ;;
auth/client-credentials-basic | auth/client-credentials-jwt | auth/wif-jwt-bearer)
    # Client credentials with the context's id (and secret where there is one); the client has
    # no private_key_jwt or workload-identity assertion yet.
    args=(--client-credentials --client-id "$(ctx client_id)")
    secret="$(ctx client_secret)"
    [ -z "$secret" ] || args+=(--client-secret "$secret")
    call "${args[@]}" test-tool '{}'
    status=$?
    ;;
auth/cross-app-access-complete-flow | auth/enterprise-managed-authorization)
    # No token exchange (ID-JAG) in the client: the closest is client credentials.
    call --client-credentials --client-id "$(ctx client_id)" --client-secret "$(ctx client_secret)" test-tool '{}'
    status=$?
    ;;
auth/*)
    # The authorization-code flow (discovery, registration, PKCE, loopback redirect), then list
    # tools and call test-tool in one process.
    call "${sign_in[@]}" test-tool '{}'
    status=$?
    ;;
*)
    echo "client.sh: no mapping for scenario $scenario; listing tools" >&2
    tools
    status=$?
    ;;
esac

echo "client.sh: exit $status" >&2
exit "$status"
