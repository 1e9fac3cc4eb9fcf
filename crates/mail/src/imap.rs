//! IMAP: one logged-in session over tokio (plain, implicit TLS or STARTTLS), every network step
//! bounded by the session's timeout.

use std::future::Future;
use std::time::Duration;

use async_imap::error::Error as ImapError;
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::{Capability, UnsolicitedResponse};
use async_imap::Session;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::account::{Credential, ImapSettings};
use crate::error::MailError;
use crate::imap_args::{check_folder, flag_list, flag_names, quote_message_id};
use crate::imap_net::{map_error, open, ImapStream};

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
            // async-imap drops the server's text when APPEND is refused before the literal
            // (a NO [TRYCREATE] for a missing folder): ask whether the folder exists.
            Err(ImapError::Append) => match self.folder_exists(folder).await? {
                false => Err(MailError::NoSuchFolder {
                    folder: folder.to_string(),
                }),
                true => Err(MailError::Protocol {
                    message: format!("the server refused the APPEND to {folder}"),
                }),
            },
            Err(e) => Err(self.fail_folder(e, folder)),
        }
    }

    async fn folder_exists(&mut self, folder: &str) -> Result<bool, MailError> {
        // LIST takes a pattern: quoted, and compared exactly, so * and % in a name do no harm.
        let pattern = format!("\"{}\"", folder.replace('\\', "\\\\").replace('"', "\\\""));
        let names = exchange!(self, "LIST", |s| {
            s.list(Some(""), Some(&pattern))
                .await?
                .try_collect::<Vec<_>>()
                .await
        });
        Ok(names.iter().any(|n| n.name() == folder))
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
        if !self.supports_idle() {
            return Err(MailError::Protocol {
                message: "the server does not offer IDLE: poll with uids_after instead".into(),
            });
        }
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

/// An account check: connect, log in, read capabilities and folders, log out.
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
