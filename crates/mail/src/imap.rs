//! IMAP: one logged-in session over tokio (plain, implicit TLS or STARTTLS), every network step
//! bounded by the session's timeout.

use std::future::Future;
use std::time::Duration;

use async_imap::error::Error as ImapError;
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::{Capability, Fetch, Flag, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::account::{Credential, ImapSettings, Security};
use crate::error::{one_line, MailError};
use crate::imap_net::{tls_connect, ImapStream};

/// Longest server text kept in an error.
const ERROR_CHARS: usize = 300;

/// A mailbox's identity and size as SELECT reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderState {
    /// UIDs are only comparable while this stays the same.
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedMessage {
    pub uid: u32,
    /// RFC822.SIZE as the server reports it.
    pub size: u64,
    pub seen: bool,
    pub flags: Vec<String>,
    /// None when the message is larger than the caller's limit: it was not downloaded.
    pub raw: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundMessage {
    pub uid: u32,
    pub flags: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleOutcome {
    /// The server reported a change (usually a new message): look again.
    NewData,
    /// The wait ended without news.
    Timeout,
    /// The caller's stop future completed.
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImapProbe {
    pub capabilities: Vec<String>,
    pub idle: bool,
    pub folders: Vec<String>,
}

pub struct ImapSession {
    session: Session<ImapStream>,
    host: String,
    port: u16,
    timeout: Duration,
    capabilities: Vec<String>,
    /// Set when a timeout or broken stream leaves the protocol state unknown.
    broken: bool,
    /// The server announced new messages (EXISTS) since the last look with `uids_after`.
    new_data: bool,
}

/// Runs one IMAP exchange, bounded by the session's timeout. The body gets `$s` (the async-imap
/// session) and returns async-imap's Result, which this evaluates to; a timeout returns early.
macro_rules! exchange_raw {
    ($self:ident, $what:expr, |$s:ident| $body:expr) => {{
        $self.usable()?;
        let limit = $self.timeout;
        let $s = &mut $self.session;
        let result = tokio::time::timeout(limit, async move { $body }).await;
        $self.drain_unsolicited();
        match result {
            Ok(r) => r,
            Err(_) => {
                // A reply may still be on its way: the stream is out of step for good.
                $self.broken = true;
                return Err(MailError::Timeout {
                    what: format!("IMAP {} after {} s", $what, limit.as_secs_f32()),
                });
            }
        }
    }};
}

/// [`exchange_raw`] with async-imap's errors mapped to ours (returning early).
macro_rules! exchange {
    ($self:ident, $what:expr, |$s:ident| $body:expr) => {{
        match exchange_raw!($self, $what, |$s| $body) {
            Ok(v) => v,
            Err(e) => return Err($self.fail(e)),
        }
    }};
}

impl ImapSession {
    /// Connects, logs in (LOGIN, or AUTHENTICATE XOAUTH2 with a token) and reads capabilities.
    pub async fn connect(
        settings: &ImapSettings,
        credential: &Credential,
        timeout: Duration,
    ) -> Result<Self, MailError> {
        settings.validate()?;
        let what = format!(
            "connecting to IMAP {}:{} after {} s",
            settings.host,
            settings.port,
            timeout.as_secs_f32()
        );
        let session = tokio::time::timeout(timeout, open(settings, credential))
            .await
            .map_err(|_| MailError::Timeout { what })??;
        let mut this = ImapSession {
            session,
            host: settings.host.clone(),
            port: settings.port,
            timeout,
            capabilities: Vec::new(),
            broken: false,
            new_data: false,
        };
        // Asked after login: servers advertise more (IDLE, MOVE) once authenticated.
        let caps = exchange!(this, "CAPABILITY", |s| s.capabilities().await);
        let mut capabilities: Vec<String> = caps
            .iter()
            .map(|c| match c {
                Capability::Imap4rev1 => "IMAP4rev1".to_string(),
                Capability::Auth(m) => format!("AUTH={m}"),
                Capability::Atom(a) => a.to_string(),
            })
            .collect();
        capabilities.sort();
        this.capabilities = capabilities;
        Ok(this)
    }

    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }

    pub fn supports_idle(&self) -> bool {
        self.has_capability("IDLE")
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    pub async fn folders(&mut self) -> Result<Vec<String>, MailError> {
        let names = exchange!(self, "LIST", |s| {
            s.list(Some(""), Some("*"))
                .await?
                .try_collect::<Vec<_>>()
                .await
        });
        let mut folders: Vec<String> = names.iter().map(|n| n.name().to_string()).collect();
        folders.sort();
        Ok(folders)
    }

    pub async fn select(&mut self, folder: &str) -> Result<FolderState, MailError> {
        check_folder(folder)?;
        let mailbox = match exchange_raw!(self, "SELECT", |s| s.select(folder).await) {
            Ok(mailbox) => mailbox,
            // SELECT answers NO for a folder that does not exist (or may not be opened).
            Err(ImapError::No(_)) => {
                return Err(MailError::NoSuchFolder {
                    folder: folder.to_string(),
                })
            }
            Err(e) => return Err(self.fail(e)),
        };
        self.new_data = false;
        let uid_validity = mailbox.uid_validity.ok_or_else(|| MailError::Protocol {
            message: format!("SELECT {folder}: the server sent no UIDVALIDITY"),
        })?;
        Ok(FolderState {
            uid_validity,
            uid_next: mailbox.uid_next,
            exists: mailbox.exists,
        })
    }

    /// UIDs above `last_uid` in the selected folder, ascending.
    pub async fn uids_after(&mut self, last_uid: u32) -> Result<Vec<u32>, MailError> {
        let Some(first) = last_uid.checked_add(1) else {
            return Ok(Vec::new());
        };
        // Whatever arrived so far is covered by this search.
        self.new_data = false;
        let found = exchange!(self, "UID SEARCH", |s| s
            .uid_search(format!("UID {first}:*"))
            .await);
        // `n:*` always includes the highest UID, even when it is below n.
        let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > last_uid).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Size and flags first; the message itself (BODY.PEEK[], leaving \Seen alone) only when it
    /// is within `max_bytes`. None when the UID no longer exists.
    pub async fn fetch(
        &mut self,
        uid: u32,
        max_bytes: u64,
    ) -> Result<Option<FetchedMessage>, MailError> {
        let meta = exchange!(self, "UID FETCH", |s| {
            s.uid_fetch(uid.to_string(), "(UID RFC822.SIZE FLAGS)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        });
        let Some(meta) = meta.iter().find(|f| f.uid == Some(uid)) else {
            return Ok(None);
        };
        let flags = flag_names(meta);
        let seen = flags.iter().any(|f| f == "\\Seen");
        let size = u64::from(meta.size.unwrap_or(0));
        let mut message = FetchedMessage {
            uid,
            size,
            seen,
            flags,
            raw: None,
        };
        if size > max_bytes {
            return Ok(Some(message));
        }
        let bodies = exchange!(self, "UID FETCH BODY", |s| {
            s.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                .await?
                .try_collect::<Vec<_>>()
                .await
        });
        let Some(body) = bodies.iter().find(|f| f.uid == Some(uid)) else {
            return Ok(None);
        };
        let raw = body.body().unwrap_or_default();
        // The size the server announced may differ from what it sends: the limit is on bytes.
        if raw.len() as u64 <= max_bytes {
            message.raw = Some(raw.to_vec());
        }
        message.size = message.size.max(raw.len() as u64);
        Ok(Some(message))
    }

    pub async fn mark_seen(&mut self, uid: u32) -> Result<(), MailError> {
        self.set_flags(uid, &["\\Seen"], &[]).await
    }

    pub async fn set_flags(
        &mut self,
        uid: u32,
        add: &[&str],
        remove: &[&str],
    ) -> Result<(), MailError> {
        for (sign, flags) in [("+", add), ("-", remove)] {
            if flags.is_empty() {
                continue;
            }
            let list = flag_list(flags)?;
            let query = format!("{sign}FLAGS.SILENT {list}");
            exchange!(self, "UID STORE", |s| {
                s.uid_store(uid.to_string(), &query)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            });
        }
        Ok(())
    }

    /// Moves a message of the selected folder: UID MOVE when offered, else copy, flag, expunge.
    pub async fn move_to(&mut self, uid: u32, folder: &str) -> Result<(), MailError> {
        check_folder(folder)?;
        let set = uid.to_string();
        if self.has_capability("MOVE") {
            match exchange_raw!(self, "UID MOVE", |s| s.uid_mv(&set, folder).await) {
                Ok(()) => return Ok(()),
                Err(e) => return Err(self.fail_folder(e, folder)),
            }
        }
        if let Err(e) = exchange_raw!(self, "UID COPY", |s| s.uid_copy(&set, folder).await) {
            return Err(self.fail_folder(e, folder));
        }
        self.delete(uid).await
    }

    /// APPENDs a whole message to `folder` with the given flags (e.g. \Seen for Sent).
    pub async fn append(
        &mut self,
        folder: &str,
        flags: &[&str],
        raw: &[u8],
    ) -> Result<(), MailError> {
        check_folder(folder)?;
        let flags = if flags.is_empty() {
            None
        } else {
            Some(flag_list(flags)?)
        };
        match exchange_raw!(self, "APPEND", |s| s
            .append(folder, flags.as_deref(), None, raw)
            .await)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail_folder(e, folder)),
        }
    }

    /// Selects `folder` and finds the messages whose Message-ID header holds `message_id`.
    pub async fn find_message_id(
        &mut self,
        folder: &str,
        message_id: &str,
    ) -> Result<Vec<FoundMessage>, MailError> {
        let quoted = quote_message_id(message_id)?;
        self.select(folder).await?;
        let found = exchange!(self, "UID SEARCH", |s| s
            .uid_search(format!("HEADER Message-ID {quoted}"))
            .await);
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetched = exchange!(self, "UID FETCH FLAGS", |s| {
            s.uid_fetch(&set, "(UID FLAGS)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        });
        let mut out: Vec<FoundMessage> = fetched
            .iter()
            .filter_map(|f| {
                let uid = f.uid?;
                uids.contains(&uid).then(|| FoundMessage {
                    uid,
                    flags: flag_names(f),
                })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        out.dedup_by_key(|m| m.uid);
        Ok(out)
    }

    /// Flags \Deleted and expunges: only this UID with UIDPLUS, else every \Deleted message.
    pub async fn delete(&mut self, uid: u32) -> Result<(), MailError> {
        self.set_flags(uid, &["\\Deleted"], &[]).await?;
        let set = uid.to_string();
        if self.has_capability("UIDPLUS") {
            exchange!(self, "UID EXPUNGE", |s| {
                s.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
            });
        } else {
            exchange!(self, "EXPUNGE", |s| {
                s.expunge().await?.try_collect::<Vec<_>>().await
            });
        }
        Ok(())
    }

    /// Waits in IDLE for news on the selected folder, at most `wait`, or until `stop` completes;
    /// then DONE, so the session is usable again.
    pub async fn idle(
        mut self,
        wait: Duration,
        stop: impl Future<Output = ()>,
    ) -> Result<(Self, IdleOutcome), MailError> {
        self.usable()?;
        self.drain_unsolicited();
        // News that came with an earlier reply would not be announced again in IDLE.
        if std::mem::take(&mut self.new_data) {
            return Ok((self, IdleOutcome::NewData));
        }
        let ImapSession {
            session,
            host,
            port,
            timeout,
            capabilities,
            ..
        } = self;
        let broken = |e: ImapError| map_error(e, &host, port).0;
        let timed_out = |what: &str| MailError::Timeout {
            what: format!("IMAP {what} after {} s", timeout.as_secs_f32()),
        };
        let mut handle = session.idle();
        match tokio::time::timeout(timeout, handle.init()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(broken(e)),
            Err(_) => return Err(timed_out("IDLE")),
        }
        let outcome = {
            let (news, _interrupt) = handle.wait_with_timeout(wait);
            tokio::pin!(stop);
            tokio::select! {
                response = news => match response {
                    Ok(IdleResponse::NewData(_)) => IdleOutcome::NewData,
                    Ok(IdleResponse::Timeout) => IdleOutcome::Timeout,
                    Ok(IdleResponse::ManualInterrupt) => IdleOutcome::Stopped,
                    Err(e) => return Err(broken(e)),
                },
                () = &mut stop => IdleOutcome::Stopped,
                // The server's keepalives restart async-imap's timer: this one does not.
                () = tokio::time::sleep(wait) => IdleOutcome::Timeout,
            }
        };
        let session = match tokio::time::timeout(timeout, handle.done()).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => return Err(broken(e)),
            Err(_) => return Err(timed_out("DONE")),
        };
        let mut this = ImapSession {
            session,
            host,
            port,
            timeout,
            capabilities,
            broken: false,
            new_data: false,
        };
        this.drain_unsolicited();
        if outcome == IdleOutcome::NewData {
            // Reported now: the caller looks with uids_after next.
            this.new_data = false;
        }
        Ok((this, outcome))
    }

    /// LOGOUT, bounded by the timeout; errors are of no use to anyone at this point.
    pub async fn logout(mut self) {
        if !self.broken {
            let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
        }
    }

    fn usable(&self) -> Result<(), MailError> {
        if self.broken {
            return Err(MailError::Connect {
                host: self.host.clone(),
                port: self.port,
                message: "the IMAP session broke earlier: connect again".into(),
            });
        }
        Ok(())
    }

    /// Reads replies the server sent unasked; remembers whether new messages were announced.
    fn drain_unsolicited(&mut self) {
        while let Ok(response) = self.session.unsolicited_responses.try_recv() {
            if matches!(response, UnsolicitedResponse::Exists(_)) {
                self.new_data = true;
            }
        }
    }

    fn fail(&mut self, e: ImapError) -> MailError {
        let (error, breaks) = map_error(e, &self.host, self.port);
        self.broken |= breaks;
        error
    }

    /// A NO with [TRYCREATE] means the target folder does not exist.
    fn fail_folder(&mut self, e: ImapError, folder: &str) -> MailError {
        if let ImapError::No(text) = &e {
            if text.to_ascii_lowercase().contains("trycreate") {
                return MailError::NoSuchFolder {
                    folder: folder.to_string(),
                };
            }
        }
        self.fail(e)
    }
}

/// Connects, checks, and logs in; also used for nothing else, so `test_imap` stays honest.
pub async fn test_imap(
    settings: &ImapSettings,
    credential: &Credential,
    timeout: Duration,
) -> Result<ImapProbe, MailError> {
    let mut session = ImapSession::connect(settings, credential, timeout).await?;
    let folders = session.folders().await?;
    let probe = ImapProbe {
        capabilities: session.capabilities().to_vec(),
        idle: session.supports_idle(),
        folders,
    };
    session.logout().await;
    Ok(probe)
}

async fn open(
    settings: &ImapSettings,
    credential: &Credential,
) -> Result<Session<ImapStream>, MailError> {
    let (host, port) = (settings.host.as_str(), settings.port);
    let connect_error = |message: String| MailError::Connect {
        host: host.to_string(),
        port,
        message,
    };
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    let stream = match settings.security {
        Security::Tls => ImapStream::Tls(Box::new(tls_connect(tcp, host).await?)),
        Security::StartTls | Security::Plain => ImapStream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    greeting(&mut client, host, port).await?;
    if settings.security == Security::StartTls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| MailError::Tls {
                message: format!(
                    "STARTTLS refused: {}",
                    one_line(&e.to_string(), ERROR_CHARS)
                ),
            })?;
        let ImapStream::Plain(tcp) = client.into_inner() else {
            return Err(MailError::Tls {
                message: "STARTTLS on a connection that is already TLS".into(),
            });
        };
        client = Client::new(ImapStream::Tls(Box::new(tls_connect(tcp, host).await?)));
    }
    let result = match credential {
        Credential::Password(password) => client.login(&settings.user, password).await,
        Credential::Xoauth2Token(token) => {
            let auth = Xoauth2 {
                response: Some(xoauth2_response(&settings.user, token)),
            };
            client.authenticate("XOAUTH2", auth).await
        }
    };
    result.map_err(|(e, _client)| login_error(e, host, port))
}

async fn greeting(client: &mut Client<ImapStream>, host: &str, port: u16) -> Result<(), MailError> {
    let closed = |message: String| MailError::Connect {
        host: host.to_string(),
        port,
        message,
    };
    match client.read_response().await {
        Ok(Some(response)) => {
            if let async_imap::imap_proto::Response::Data {
                status: async_imap::imap_proto::Status::Bye,
                outcome,
                ..
            } = response.parsed()
            {
                let text = outcome.information.as_deref().unwrap_or("");
                return Err(closed(format!(
                    "server said BYE: {}",
                    one_line(text, ERROR_CHARS)
                )));
            }
            Ok(())
        }
        Ok(None) => Err(closed("closed before its greeting".into())),
        Err(e) => Err(closed(e.to_string())),
    }
}

fn login_error(e: ImapError, host: &str, port: u16) -> MailError {
    match e {
        ImapError::No(text) | ImapError::Bad(text) => {
            let text = one_line(&text, ERROR_CHARS);
            // [UNAVAILABLE]: the server cannot check passwords right now; worth another try.
            if text.to_ascii_lowercase().contains("unavailable") {
                MailError::Connect {
                    host: host.to_string(),
                    port,
                    message: format!("login temporarily unavailable: {text}"),
                }
            } else {
                MailError::Auth { message: text }
            }
        }
        ImapError::Validate(_) => MailError::Auth {
            message: "the user name or password holds a line break".into(),
        },
        other => map_error(other, host, port).0,
    }
}

/// Our error for async-imap's, and whether the stream can no longer be trusted.
fn map_error(e: ImapError, host: &str, port: u16) -> (MailError, bool) {
    let connect = |message: String| MailError::Connect {
        host: host.to_string(),
        port,
        message,
    };
    match e {
        ImapError::Io(io) => (connect(io.to_string()), true),
        ImapError::ConnectionLost => (connect("connection lost".into()), true),
        ImapError::No(text) => (
            MailError::Protocol {
                message: format!("server said NO: {}", one_line(&text, ERROR_CHARS)),
            },
            false,
        ),
        ImapError::Bad(text) => (
            MailError::Protocol {
                message: format!("server said BAD: {}", one_line(&text, ERROR_CHARS)),
            },
            false,
        ),
        ImapError::Validate(v) => (MailError::invalid(format!("IMAP argument: {v}")), false),
        ImapError::Append => (
            MailError::Protocol {
                message: "the server refused the APPEND".into(),
            },
            false,
        ),
        other => (
            MailError::Protocol {
                message: one_line(&other.to_string(), ERROR_CHARS),
            },
            true,
        ),
    }
}

struct Xoauth2 {
    response: Option<String>,
}

impl async_imap::Authenticator for Xoauth2 {
    type Response = String;

    /// The first challenge gets the token; a later one carries the server's error (JSON), to
    /// which the answer must be empty so the server ends the exchange with its NO.
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.response.take().unwrap_or_default()
    }
}

pub(crate) fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

fn flag_names(fetch: &Fetch) -> Vec<String> {
    fetch
        .flags()
        .map(|f| match f {
            Flag::Seen => "\\Seen".to_string(),
            Flag::Answered => "\\Answered".to_string(),
            Flag::Flagged => "\\Flagged".to_string(),
            Flag::Deleted => "\\Deleted".to_string(),
            Flag::Draft => "\\Draft".to_string(),
            Flag::Recent => "\\Recent".to_string(),
            Flag::MayCreate => "\\*".to_string(),
            Flag::Custom(c) => c.to_string(),
        })
        .collect()
}

/// "(\\Seen $Label)": system flags (one leading backslash) and keywords, atoms only.
fn flag_list(flags: &[&str]) -> Result<String, MailError> {
    for flag in flags {
        let body = flag.strip_prefix('\\').unwrap_or(flag);
        let atom_char = |c: char| {
            c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
        };
        if body.is_empty() || body.len() > 64 || !body.chars().all(atom_char) {
            return Err(MailError::invalid(format!("IMAP flag {flag:?}")));
        }
    }
    Ok(format!("({})", flags.join(" ")))
}

/// Folder names go out quoted by async-imap; line breaks and NUL cannot be quoted at all.
fn check_folder(folder: &str) -> Result<(), MailError> {
    if folder.is_empty() || folder.len() > 1000 || folder.chars().any(|c| c.is_control()) {
        return Err(MailError::invalid(format!("folder name {folder:?}")));
    }
    Ok(())
}

/// `"<id>"` for a SEARCH; ids that would need escaping are refused rather than escaped.
pub(crate) fn quote_message_id(message_id: &str) -> Result<String, MailError> {
    let bare = message_id.trim();
    let bare = bare.strip_prefix('<').unwrap_or(bare);
    let bare = bare.strip_suffix('>').unwrap_or(bare);
    let ok = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '<' | '>');
    if bare.is_empty() || bare.len() > 995 || !bare.chars().all(ok) {
        return Err(MailError::invalid(format!(
            "Message-ID {:?}: printable ASCII without spaces, quotes or backslashes",
            one_line(message_id, 100)
        )));
    }
    Ok(format!("\"<{bare}>\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_quoted_or_refused() {
        assert_eq!(quote_message_id("<a.b@c>").expect("ok"), "\"<a.b@c>\"");
        assert_eq!(quote_message_id("a.b@c").expect("ok"), "\"<a.b@c>\"");
        for bad in ["x\" OR ALL", "a\\b", "a\r\nb", "", "<>", "a b", "é@x"] {
            assert_eq!(
                quote_message_id(bad).expect_err(bad).kind(),
                "invalid",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn flags_must_be_atoms() {
        assert_eq!(
            flag_list(&["\\Seen", "$Label1"]).expect("ok"),
            "(\\Seen $Label1)"
        );
        for bad in ["", "\\", "a b", "(x", "\\Seen)", "a\"", "x\r\n"] {
            assert!(flag_list(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn xoauth2_response_format() {
        assert_eq!(
            xoauth2_response("me@x.test", "tok"),
            "user=me@x.test\x01auth=Bearer tok\x01\x01"
        );
    }
}
