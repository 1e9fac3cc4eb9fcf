//! What deserves a person's attention, as notices a door shows its own way (the desktop app
//! as OS notifications): a call waiting for approval, a question, a step in need of a
//! decision, a failed run. A subscriber of the API's event stream from "now".

use std::time::Duration;

use waymark_api::{
    Api, ApiEvent, Change, EventFilter, RunId, RunStatus, RunsGetPageRequest, StepKind,
};

/// One thing to tell the person.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub title: &'static str,
    /// `agent: what happened`.
    pub body: String,
    pub run_id: RunId,
}

/// The notice an event deserves, if any, before the agent's name is known.
pub fn notice_of(event: &ApiEvent) -> Option<(&'static str, String)> {
    Some(match &event.change {
        Change::StepWaiting {
            key,
            kind: StepKind::Approval,
            ..
        } => (
            "Approval needed",
            format!("a call waits for your approval ({key})"),
        ),
        Change::StepWaiting {
            key,
            kind: StepKind::Question,
            ..
        } => ("Question", format!("the agent asks you something ({key})")),
        Change::StepWaiting {
            key,
            kind: StepKind::Elicitation,
            ..
        } => (
            "A tool asks you something",
            format!("an MCP server asks a question during a tool call ({key})"),
        ),
        Change::StepNeedsAttention { key, .. } => (
            "Step needs attention",
            format!("step {key} was interrupted and needs your decision"),
        ),
        Change::RunStatusChanged {
            status: RunStatus::Failed,
            reason,
        } => (
            "Run failed",
            reason.clone().unwrap_or_else(|| "the run failed".into()),
        ),
        _ => return None,
    })
}

/// Follows every run's events from now and hands each notice to `show`, until dropped (a
/// door spawns it on its runtime). A stream error is retried after a second.
pub async fn follow(api: Api, show: impl Fn(Notice) + Send + Sync + 'static) {
    let mut after = match api.current_seq().await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e.message, "no notices: cannot read the event stream");
            return;
        }
    };
    loop {
        let mut sub = match api
            .subscribe(EventFilter::of(None).changes_only(), after)
            .await
        {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(error = %e.message, "notices: cannot follow events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let event = match sub.next().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e.message, "notices: event stream error; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            };
            after = event.global_seq;
            let (Some((title, what)), Some(run_id)) = (notice_of(&event), event.run_id) else {
                continue;
            };
            let agent = match &event.run {
                Some(run) => run.agent.clone(),
                None => agent_of(&api, run_id).await,
            };
            show(Notice {
                title,
                body: format!("{agent}: {what}"),
                run_id,
            });
        }
    }
}

async fn agent_of(api: &Api, run_id: RunId) -> String {
    let page = RunsGetPageRequest {
        run_id,
        offset: 0,
        limit: Some(1),
    };
    match api.runs_get_page(page).await {
        Ok(got) => got.run.agent,
        Err(_) => "a run".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_api::StepKey;

    fn event(change: Change) -> ApiEvent {
        ApiEvent {
            global_seq: 1,
            run_id: None,
            run_seq: None,
            at: 0,
            change,
            step: None,
            run: None,
        }
    }

    fn waiting(kind: StepKind) -> ApiEvent {
        event(Change::StepWaiting {
            key: StepKey::new("approval/4.1"),
            kind,
            wake_at: None,
        })
    }

    #[test]
    fn only_what_needs_a_person_is_a_notice() {
        let approval = notice_of(&waiting(StepKind::Approval)).map(|n| n.0);
        assert_eq!(approval, Some("Approval needed"));
        assert_eq!(
            notice_of(&waiting(StepKind::Question)).map(|n| n.0),
            Some("Question")
        );
        assert_eq!(
            notice_of(&waiting(StepKind::Elicitation)).map(|n| n.0),
            Some("A tool asks you something")
        );
        assert_eq!(notice_of(&waiting(StepKind::EventWait)), None);
        assert_eq!(notice_of(&waiting(StepKind::Timer)), None);
        let failed = event(Change::RunStatusChanged {
            status: RunStatus::Failed,
            reason: Some("limit: 10 steps".into()),
        });
        assert_eq!(
            notice_of(&failed),
            Some(("Run failed", "limit: 10 steps".to_string()))
        );
        let done = event(Change::RunStatusChanged {
            status: RunStatus::Succeeded,
            reason: None,
        });
        assert_eq!(notice_of(&done), None);
    }
}
