//! The catalog on a real file: agents and their versions, MCP servers whose secrets stay out of
//! the database file, agent memory, and sharing the file with the engine's store.

use std::collections::BTreeMap;
use std::path::Path;

use waymark_agent::mcp_import::{McpServerDef, McpTransport};
use waymark_agent::{AgentSpec, Catalog, CatalogError, Secret, SecretStore};
use waymark_engine::SqliteStore;

const TOKEN: &str = "ghp_canary_token_8c2d41aa";
const HEADER: &str = "Bearer canary-header-61f0c9";

fn spec(name: &str, instructions: &str) -> AgentSpec {
    AgentSpec::from_toml_str(&format!(
        "name = \"{name}\"\ndescription = \"about {name}\"\ninstructions = \"{instructions}\"\n\
         [model]\nprovider = \"openai\"\nmodel = \"m\"\n"
    ))
    .expect("valid spec")
}

fn open(dir: &Path) -> Catalog {
    let secrets = SecretStore::file(dir.join("secrets").join("secrets.json"));
    Catalog::open(&dir.join("waymark.db"), secrets).expect("open catalog")
}

#[test]
fn agents_round_trip_and_keep_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = open(dir.path());
    assert!(cat.agents().expect("list").is_empty());
    assert!(cat.agent("zeta").expect("get").is_none());

    let v1 = spec("zeta", "first");
    let s1 = cat.put_agent(&v1).expect("put");
    assert_eq!(s1.hash, v1.content_hash());
    assert_eq!(s1.description, "about zeta");
    let again = cat.put_agent(&v1).expect("same again");
    assert_eq!(
        again.updated_at_ms, s1.updated_at_ms,
        "an unchanged spec keeps its time"
    );

    let v2 = spec("zeta", "second");
    let s2 = cat.put_agent(&v2).expect("put v2");
    assert_ne!(s2.hash, s1.hash);
    cat.put_agent(&spec("alpha", "a")).expect("put alpha");

    assert_eq!(cat.agent("zeta").expect("get"), Some(v2.clone()));
    assert_eq!(cat.agent_version(&s1.hash).expect("v1"), Some(v1));
    assert_eq!(cat.agent_version(&s2.hash).expect("v2"), Some(v2));
    assert!(cat.agent_version("sha256:nope").expect("none").is_none());
    let versions: Vec<_> = cat
        .agent_versions("zeta")
        .expect("versions")
        .into_iter()
        .map(|v| v.hash)
        .collect();
    assert_eq!(versions, [s1.hash.clone(), s2.hash.clone()]);
    let names: Vec<_> = cat
        .agents()
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);

    // An invalid spec is refused with the spec's own error.
    let mut bad = spec("ok", "x");
    bad.name = "Not A Slug".into();
    assert!(matches!(cat.put_agent(&bad), Err(CatalogError::Spec(_))));

    // A second handle (another process, say) sees the same data.
    let other = open(dir.path());
    assert_eq!(other.agents().expect("list").len(), 2);

    assert!(cat.delete_agent("zeta").expect("delete"));
    assert!(!cat.delete_agent("zeta").expect("delete again"));
    assert!(cat.agent("zeta").expect("get").is_none());
    assert!(cat
        .agent_version(&s1.hash)
        .expect("old versions stay")
        .is_some());
}

fn stdio_server(name: &str, token: &str) -> McpServerDef {
    McpServerDef {
        name: name.into(),
        transport: McpTransport::Stdio {
            command: "npx".into(),
            args: vec!["-y".into(), "@modelcontextprotocol/server-github".into()],
            env: BTreeMap::from([
                ("GITHUB_TOKEN".to_string(), Secret::new(token)),
                ("LOG_LEVEL".to_string(), Secret::new("debug")),
            ]),
            cwd: Some("/srv/work".into()),
        },
    }
}

fn http_server(name: &str) -> McpServerDef {
    McpServerDef {
        name: name.into(),
        transport: McpTransport::Http {
            url: "https://mcp.example.com/mcp".into(),
            headers: BTreeMap::from([("Authorization".to_string(), Secret::new(HEADER))]),
            oauth: Default::default(),
        },
    }
}

/// The bytes of the database file and its WAL, to search for a value.
fn db_bytes(dir: &Path) -> Vec<u8> {
    let mut all = std::fs::read(dir.join("waymark.db")).expect("db");
    if let Ok(wal) = std::fs::read(dir.join("waymark.db-wal")) {
        all.extend(wal);
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn server_secrets_stay_out_of_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = open(dir.path());
    let github = stdio_server("github", TOKEN);
    cat.put_server(&github).expect("put stdio");
    cat.put_server(&http_server("remote")).expect("put http");

    assert_eq!(cat.server("github").expect("get"), Some(github.clone()));
    assert_eq!(
        cat.server("remote").expect("get"),
        Some(http_server("remote"))
    );
    assert!(cat.server("nope").expect("get").is_none());
    let names: Vec<_> = cat
        .servers()
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["github", "remote"]);

    let bytes = db_bytes(dir.path());
    assert!(
        contains(&bytes, "server-github"),
        "the test reads the right file"
    );
    for secret in [TOKEN, HEADER] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is in the database file"
        );
    }
    let secrets_file = dir.path().join("secrets").join("secrets.json");
    let text = std::fs::read_to_string(&secrets_file).expect("secrets file");
    assert!(text.contains(TOKEN) && text.contains(HEADER));

    // Replacing a server deletes the secrets it had; deleting it deletes the rest.
    cat.put_server(&stdio_server("github", "ghp_second_token_0000"))
        .expect("replace");
    let text = std::fs::read_to_string(&secrets_file).expect("secrets file");
    assert!(!text.contains(TOKEN), "the old token is gone");
    assert!(text.contains("ghp_second_token_0000"));
    match cat.server("github").expect("get").map(|s| s.transport) {
        Some(McpTransport::Stdio { env, .. }) => {
            assert_eq!(
                env.get("GITHUB_TOKEN").map(Secret::expose),
                Some("ghp_second_token_0000")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(cat.delete_server("github").expect("delete"));
    assert!(cat.delete_server("remote").expect("delete"));
    assert!(!cat.delete_server("remote").expect("delete again"));
    let text = std::fs::read_to_string(&secrets_file).expect("secrets file");
    assert!(
        !text.contains("ghp_second_token_0000") && !text.contains(HEADER),
        "{text}"
    );
    assert!(cat.servers().expect("list").is_empty());
    let bytes = db_bytes(dir.path());
    for secret in [TOKEN, HEADER, "ghp_second_token_0000"] {
        assert!(
            !contains(&bytes, secret),
            "{secret} is in the database file"
        );
    }
}

#[test]
fn a_missing_secret_is_an_error_naming_the_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = open(dir.path());
    cat.put_server(&http_server("remote")).expect("put");
    // The secret file is lost (another machine, say): the row stays, reading it says why.
    std::fs::remove_file(dir.path().join("secrets").join("secrets.json")).expect("rm");
    let err = cat.server("remote").expect_err("secret gone");
    let text = err.to_string();
    assert!(matches!(err, CatalogError::Secret(_)), "{text}");
    assert!(
        text.contains("file:mcp.remote.header.Authorization."),
        "{text}"
    );
    assert!(!text.contains(HEADER));
}

#[test]
fn memory_remember_recall_forget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = open(dir.path());
    cat.remember("helper", "user.name", "Ada")
        .expect("remember");
    cat.remember("helper", "Favourite colour", "Blue")
        .expect("remember");
    cat.remember("helper", "timezone", "Europe/Paris")
        .expect("remember");
    cat.remember("other", "user.name", "Grace")
        .expect("other agent");

    let keys =
        |v: Vec<waymark_agent::MemoryEntry>| v.into_iter().map(|e| e.key).collect::<Vec<_>>();
    assert_eq!(
        keys(cat.memory("helper").expect("memory")),
        ["Favourite colour", "timezone", "user.name"]
    );
    // Newest first; the query ignores case and matches keys or values.
    assert_eq!(
        keys(cat.recall("helper", "", 10).expect("all")),
        ["timezone", "Favourite colour", "user.name"]
    );
    assert_eq!(
        keys(cat.recall("helper", "BLUE", 10).expect("value")),
        ["Favourite colour"]
    );
    assert_eq!(
        keys(cat.recall("helper", "user", 10).expect("key")),
        ["user.name"]
    );
    assert_eq!(cat.recall("helper", "", 2).expect("limit").len(), 2);
    assert!(cat
        .recall("helper", "nothing", 10)
        .expect("none")
        .is_empty());

    // Upsert: the value changes and the entry becomes the newest.
    let e = cat
        .remember("helper", "user.name", "Ada Lovelace")
        .expect("update");
    assert_eq!(e.value, "Ada Lovelace");
    assert_eq!(
        keys(cat.recall("helper", "", 1).expect("newest")),
        ["user.name"]
    );
    assert_eq!(cat.memory("helper").expect("memory").len(), 3);
    assert_eq!(cat.memory("other").expect("other")[0].value, "Grace");

    assert!(cat.forget("helper", "user.name").expect("forget"));
    assert!(!cat.forget("helper", "user.name").expect("forget again"));
    assert_eq!(cat.memory("helper").expect("memory").len(), 2);
    assert!(matches!(
        cat.remember("helper", "", "x"),
        Err(CatalogError::Invalid { .. })
    ));

    let json = serde_json::to_string(&e).expect("ser");
    let back: waymark_agent::MemoryEntry = serde_json::from_str(&json).expect("de");
    assert_eq!(back, e);
}

#[tokio::test]
async fn shares_the_file_with_the_engine_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("waymark.db");

    // Engine first, then the catalog, then the engine again on a file that has both.
    let store = SqliteStore::open(&db).expect("engine store");
    let cat = open(dir.path());
    cat.put_agent(&spec("helper", "x")).expect("put");
    cat.remember("helper", "k", "v").expect("remember");
    store.close();
    drop(store);
    let store = SqliteStore::open(&db).expect("engine store again");
    assert_eq!(cat.agents().expect("list").len(), 1);
    store.close();
    drop(cat);

    // Catalog first on a fresh file, then the engine, then the catalog again.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let cat = open(dir2.path());
    cat.put_agent(&spec("first", "x")).expect("put");
    let store = SqliteStore::open(dir2.path().join("waymark.db")).expect("engine after catalog");
    let user_version: i64 = rusqlite::Connection::open(dir2.path().join("waymark.db"))
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("user_version");
    assert!(user_version > 0, "the engine migrated its own schema");
    let again = open(dir2.path());
    assert_eq!(
        again
            .agent("first")
            .expect("get")
            .map(|s| s.name)
            .as_deref(),
        Some("first")
    );
    again
        .remember("first", "k", "v")
        .expect("write while the engine holds the file");
    store.close();
}

#[test]
fn provider_keys_live_in_the_secret_store_and_only_their_names_are_listed() {
    use waymark_agent::runtime::KeySource;
    use waymark_agent::spec::ProviderKind;
    let dir = tempfile::tempdir().unwrap();
    let catalog = open(dir.path());
    assert!(catalog
        .provider_key(ProviderKind::OpenAi)
        .unwrap()
        .is_none());
    let key = "sk-live-provider-key-42";
    catalog
        .set_provider_key(ProviderKind::OpenAi, &Secret::new(key))
        .unwrap();
    catalog
        .set_provider_key(ProviderKind::OpenAi, &Secret::new(format!("{key}-new")))
        .unwrap();
    let got = catalog.api_key(ProviderKind::OpenAi).expect("a key");
    assert_eq!(got.expose(), format!("{key}-new"));
    assert_eq!(catalog.providers_with_keys().unwrap(), ["openai"]);
    assert!(
        !contains(&db_bytes(dir.path()), key),
        "the key is in the database"
    );
    assert!(catalog
        .set_provider_key(ProviderKind::Anthropic, &Secret::new(" "))
        .is_err());
    assert!(catalog.delete_provider_key(ProviderKind::OpenAi).unwrap());
    assert!(catalog.api_key(ProviderKind::OpenAi).is_none());
    assert!(!catalog.delete_provider_key(ProviderKind::OpenAi).unwrap());
}
