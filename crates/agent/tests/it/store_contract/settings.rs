//! [`ServerStore`](waymark_agent::stores::ServerStore) and
//! [`SettingsStore`](waymark_agent::stores::SettingsStore)'s contracts.

use std::collections::BTreeMap;

use waymark_agent::key_hosts::{EnvKeyHost, BUILTIN_ENV_KEY_HOSTS};
use waymark_agent::spec::ProviderKind;
use waymark_agent::stores::{AgentStores, Removed, ServerRecord, ServerTransport};

use super::{odd_names, secret_ref};

fn stdio(name: &str, env: &[(&str, &str)]) -> ServerRecord {
    ServerRecord {
        name: name.into(),
        transport: ServerTransport::Stdio {
            command: "npx".into(),
            args: vec!["-y".into(), "a b".into(), "'\"".into()],
            cwd: Some("/tmp/x y".into()),
            env: env
                .iter()
                .map(|(k, id)| (k.to_string(), secret_ref(id)))
                .collect(),
        },
    }
}

fn http(name: &str, headers: &[(&str, &str)]) -> ServerRecord {
    ServerRecord {
        name: name.into(),
        transport: ServerTransport::Http {
            url: "https://mcp.example/v1?x=1".into(),
            headers: headers
                .iter()
                .map(|(k, id)| (k.to_string(), secret_ref(id)))
                .collect(),
            oauth: Default::default(),
        },
    }
}

/// Round trips with references, replacing (the replaced references handed back), deleting.
pub fn servers(stores: &AgentStores) {
    let s = &stores.servers;
    assert!(s.servers().expect("empty").is_empty());
    assert_eq!(s.server("gh").expect("none"), None);
    assert_eq!(s.delete_server("gh").expect("absent"), Removed::default());

    let gh = stdio("gh", &[("GITHUB_TOKEN", "gh-1"), ("OTHER", "gh-2")]);
    assert_eq!(s.put_server(&gh, 1).expect("put"), Removed::default());
    assert_eq!(s.server("gh").expect("get"), Some(gh.clone()));
    let web = http("web", &[("Authorization", "web-1")]);
    s.put_server(&web, 2).expect("put http");
    let bare = ServerRecord {
        name: "bare".into(),
        transport: ServerTransport::Stdio {
            command: "tool".into(),
            args: vec![],
            cwd: None,
            env: BTreeMap::new(),
        },
    };
    s.put_server(&bare, 3).expect("put bare");
    assert_eq!(
        s.servers().expect("list"),
        [bare.clone(), gh.clone(), web.clone()]
    );

    // Replacing hands back what the old definition referenced; the transport may change.
    let gh2 = http("gh", &[("X-Token", "gh-3")]);
    let old = s.put_server(&gh2, 4).expect("replace");
    assert!(old.existed);
    let mut old_refs = old.secrets.clone();
    old_refs.sort();
    assert_eq!(old_refs, [secret_ref("gh-1"), secret_ref("gh-2")]);
    assert_eq!(s.server("gh").expect("get"), Some(gh2.clone()));

    let gone = s.delete_server("gh").expect("delete");
    assert_eq!(
        gone,
        Removed {
            existed: true,
            secrets: vec![secret_ref("gh-3")]
        }
    );
    assert_eq!(
        s.delete_server("bare").expect("delete"),
        Removed {
            existed: true,
            secrets: vec![]
        }
    );
    for name in odd_names() {
        let rec = stdio(&name, &[(name.as_str(), "odd")]);
        s.put_server(&rec, 5).expect("odd");
        assert_eq!(s.server(&name).expect("get"), Some(rec));
        assert!(s.delete_server(&name).expect("delete").existed);
    }
    assert!(s.delete_server("web").expect("delete").existed);
    assert!(s.servers().expect("empty").is_empty());
}

/// Provider keys (references) and base URLs; the environment keys' allowlist.
pub fn settings(stores: &AgentStores) {
    let st = &stores.settings;
    let (openai, anthropic) = (ProviderKind::OpenAi, ProviderKind::Anthropic);
    assert_eq!(st.provider_key_ref(openai).expect("none"), None);
    assert!(st.providers_with_keys().expect("none").is_empty());
    assert_eq!(
        st.delete_provider_key_ref(openai).expect("absent"),
        Removed::default()
    );

    let first = st
        .set_provider_key_ref(openai, &secret_ref("k1"), 1)
        .expect("set");
    assert_eq!(first, Removed::default());
    assert_eq!(
        st.provider_key_ref(openai).expect("get"),
        Some(secret_ref("k1"))
    );
    let replaced = st
        .set_provider_key_ref(openai, &secret_ref("k2"), 2)
        .expect("replace");
    assert_eq!(
        replaced,
        Removed {
            existed: true,
            secrets: vec![secret_ref("k1")]
        }
    );
    st.set_provider_key_ref(anthropic, &secret_ref("k3"), 3)
        .expect("set");
    assert_eq!(
        st.providers_with_keys().expect("list"),
        ["anthropic", "openai"]
    );
    let deleted = st.delete_provider_key_ref(openai).expect("delete");
    assert_eq!(
        deleted,
        Removed {
            existed: true,
            secrets: vec![secret_ref("k2")]
        }
    );
    assert_eq!(st.provider_key_ref(openai).expect("gone"), None);
    assert!(
        st.delete_provider_key_ref(anthropic)
            .expect("delete")
            .existed
    );

    assert_eq!(st.provider_base_url(openai).expect("none"), None);
    st.set_provider_base_url(openai, Some("http://127.0.0.1:4000/v1"), 1)
        .expect("set");
    st.set_provider_base_url(openai, Some("http://gw:1/v1"), 2)
        .expect("replace");
    assert_eq!(
        st.provider_base_url(openai).expect("get").as_deref(),
        Some("http://gw:1/v1")
    );
    assert_eq!(st.provider_base_url(anthropic).expect("other"), None);
    st.set_provider_base_url(openai, None, 3).expect("clear");
    st.set_provider_base_url(openai, None, 4)
        .expect("clear again");
    assert_eq!(st.provider_base_url(openai).expect("cleared"), None);

    // A new database allows the built-in pairs.
    let builtins = EnvKeyHost::builtins();
    let mut expected = builtins.clone();
    expected.sort_by(|a, b| (&a.variable, &a.host).cmp(&(&b.variable, &b.host)));
    assert_eq!(st.env_key_hosts().expect("builtins"), expected);
    assert_eq!(builtins.len(), BUILTIN_ENV_KEY_HOSTS.len());
    let mine = EnvKeyHost {
        variable: "AWS_SECRET_ACCESS_KEY".into(),
        host: "127.0.0.1:4000".into(),
        builtin: false,
    };
    st.allow_env_key(&mine, 5).expect("allow");
    st.allow_env_key(&mine, 6).expect("allow again");
    // Allowing a built-in pair again keeps it built in.
    let again = EnvKeyHost {
        builtin: false,
        ..builtins[0].clone()
    };
    st.allow_env_key(&again, 7).expect("allow builtin again");
    let mut with_mine = expected.clone();
    with_mine.push(mine.clone());
    with_mine.sort_by(|a, b| (&a.variable, &a.host).cmp(&(&b.variable, &b.host)));
    assert_eq!(
        st.env_key_hosts().expect("list"),
        with_mine,
        "by variable, then host"
    );
    assert!(st
        .disallow_env_key(&mine.variable, &mine.host)
        .expect("disallow"));
    assert!(!st
        .disallow_env_key(&mine.variable, &mine.host)
        .expect("again"));
    let (v, h) = BUILTIN_ENV_KEY_HOSTS[0];
    assert!(st.disallow_env_key(v, h).expect("a built-in one too"));
    assert_eq!(st.env_key_hosts().expect("list").len(), builtins.len() - 1);
    st.allow_env_key(&builtins[0], 8).expect("restore");
    assert_eq!(st.env_key_hosts().expect("restored"), expected);

    // App settings: absent until set, replaced, cleared; keys are exact (no pattern).
    assert_eq!(st.app_setting("hooks_port").expect("read"), None);
    st.set_app_setting("hooks_port", Some("4681"), 9)
        .expect("set");
    st.set_app_setting("hooks_port", Some("0"), 10)
        .expect("replace");
    st.set_app_setting("hooks_%", Some("x"), 10)
        .expect("odd key");
    assert_eq!(
        st.app_setting("hooks_port").expect("read"),
        Some("0".into())
    );
    assert_eq!(st.app_setting("hooks_%").expect("read"), Some("x".into()));
    st.set_app_setting("hooks_port", None, 11).expect("clear");
    assert_eq!(st.app_setting("hooks_port").expect("read"), None);
    assert_eq!(
        st.app_setting("hooks_%").expect("other key kept"),
        Some("x".into())
    );
}
