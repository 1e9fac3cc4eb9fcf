// The sign-in "browser" of the conformance runs (tests/conformance/client.sh passes it to
// `waymark mcp ... --open-with`): GETs the authorization URL and follows the redirects, as a
// browser would. The suite's mock authorization server has no sign-in page: it answers the
// authorization request with a redirect straight to the client's loopback listener.
// Usage: node follow.mjs URL
const url = process.argv[2];
if (!url) {
    console.error("follow.mjs: usage: node follow.mjs URL");
    process.exit(2);
}
try {
    const res = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(20_000) });
    await res.arrayBuffer();
    console.error(`follow.mjs: ${res.status} from ${res.url}`);
} catch (e) {
    console.error(`follow.mjs: GET ${url} failed: ${e?.cause?.message ?? e?.message ?? e}`);
    process.exit(1);
}
