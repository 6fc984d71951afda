//! `linkctl append <kind>`: one subcommand per domain event, so that nobody
//! writes protobuf by hand.

use clap::{Args, Subcommand, ValueEnum};
use linkage_core::pb;
use linkage_core::pb::payload::Kind;

/// Options common to every append, then the event kind.
#[derive(Args)]
pub struct AppendArgs {
    /// Audience (required): up, down, all, group:<id> or to:<code>
    #[arg(global = true, long)]
    channel: Option<String>,
    /// Id of an event this one answers or builds on (repeatable)
    #[arg(global = true, long = "ref")]
    refs: Vec<String>,
    /// Retry-safe key: the same key and content return the first event
    #[arg(global = true, long)]
    idempotency_key: Option<String>,
    /// When it happened (RFC 3339, e.g. 2026-11-27T09:00:00Z); now when absent
    #[arg(global = true, long)]
    occurred_at: Option<String>,
    #[command(subcommand)]
    kind: KindArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Category {
    /// 协商
    Consultation,
    /// 调研
    Research,
    /// 视察
    Inspection,
    /// 提案
    Proposal,
    /// 民主监督
    Supervision,
}

#[derive(Clone, Copy, ValueEnum)]
enum AdoptionLevel {
    County,
    City,
    Province,
    National,
}

#[derive(Subcommand)]
enum KindArgs {
    /// 沟通: propose a topic for the annual plan.
    TopicProposed {
        #[arg(long)]
        year: u32,
        #[arg(long, value_enum)]
        category: Category,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        summary: String,
    },
    /// 沟通: comment on a topic.
    TopicCommented {
        #[arg(long)]
        topic_id: String,
        #[arg(long)]
        text: String,
    },
    /// 联通: form a joint group.
    GroupFormed {
        #[arg(long)]
        group_id: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        lead: String,
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// 联通: report progress on a task.
    ProgressReported {
        #[arg(long)]
        group_id: String,
        #[arg(long)]
        task_id: String,
        #[arg(long)]
        percent: u32,
        #[arg(long, default_value = "")]
        text: String,
    },
    /// 畅通: submit a 社情民意 item.
    InfoReported {
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        #[arg(long, default_value = "")]
        submitter: String,
    },
    /// 畅通: issue a notice.
    NoticeIssued {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long)]
        requires_acknowledgement: bool,
    },
    /// 畅通: forward (转报) a 社情民意 item to a higher level or to the party committee / government.
    InfoForwarded {
        #[arg(long)]
        info_id: String,
        #[arg(long)]
        to: String,
    },
    /// 畅通: record that an item was adopted (采用) at a level.
    InfoAdopted {
        #[arg(long)]
        info_id: String,
        #[arg(long, value_enum)]
        level: AdoptionLevel,
        #[arg(long, default_value = "")]
        by: String,
    },
    /// 互通: record that a result was adopted or reused (成果转化运用).
    ResultAdopted {
        #[arg(long)]
        result_id: String,
        #[arg(long, default_value = "")]
        by: String,
        #[arg(long)]
        how: String,
    },
    /// 互通: record a completed study.
    ResearchCompleted {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        summary: String,
        #[arg(long = "attachment")]
        attachments: Vec<String>,
    },
}

impl AppendArgs {
    /// The gRPC request.
    pub fn to_request(&self) -> anyhow::Result<pb::AppendRequest> {
        let occurred_at = match &self.occurred_at {
            None => None,
            Some(text) => {
                let t =
                    humantime::parse_rfc3339_weak(text).map_err(|e| anyhow::anyhow!("--occurred-at {text:?}: {e}"))?;
                let d = t.duration_since(std::time::UNIX_EPOCH)?;
                Some(prost_types::Timestamp { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 })
            }
        };
        Ok(pb::AppendRequest {
            channel: self
                .channel
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--channel is required (up, down, all, group:<id> or to:<code>)"))?,
            payload: Some(pb::Payload { kind: Some(self.kind.to_kind()) }),
            refs: self.refs.clone(),
            occurred_at,
            idempotency_key: self.idempotency_key.clone().unwrap_or_default(),
        })
    }
}

impl KindArgs {
    fn to_kind(&self) -> Kind {
        match self {
            KindArgs::TopicProposed { year, category, title, summary } => Kind::TopicProposed(pb::TopicProposed {
                year: *year,
                category: match category {
                    Category::Consultation => pb::TopicCategory::Consultation,
                    Category::Research => pb::TopicCategory::Research,
                    Category::Inspection => pb::TopicCategory::Inspection,
                    Category::Proposal => pb::TopicCategory::Proposal,
                    Category::Supervision => pb::TopicCategory::Supervision,
                } as i32,
                title: title.clone(),
                summary: summary.clone(),
                lead_committee: String::new(),
            }),
            KindArgs::TopicCommented { topic_id, text } => {
                Kind::TopicCommented(pb::TopicCommented { topic_id: topic_id.clone(), text: text.clone() })
            }
            KindArgs::GroupFormed { group_id, title, lead, members } => Kind::GroupFormed(pb::GroupFormed {
                group_id: group_id.clone(),
                title: title.clone(),
                lead: lead.clone(),
                members: members.clone(),
                topic_ids: Vec::new(),
            }),
            KindArgs::ProgressReported { group_id, task_id, percent, text } => {
                Kind::ProgressReported(pb::ProgressReported {
                    group_id: group_id.clone(),
                    task_id: task_id.clone(),
                    percent: *percent,
                    text: text.clone(),
                })
            }
            KindArgs::InfoReported { title, body, submitter } => Kind::InfoReported(pb::InfoReported {
                title: title.clone(),
                body: body.clone(),
                submitter: submitter.clone(),
                sector: String::new(),
            }),
            KindArgs::NoticeIssued { title, body, requires_acknowledgement } => Kind::NoticeIssued(pb::NoticeIssued {
                title: title.clone(),
                body: body.clone(),
                requires_acknowledgement: *requires_acknowledgement,
            }),
            KindArgs::InfoForwarded { info_id, to } => {
                Kind::InfoForwarded(pb::InfoForwarded { info_id: info_id.clone(), to: to.clone() })
            }
            KindArgs::InfoAdopted { info_id, level, by } => Kind::InfoAdopted(pb::InfoAdopted {
                info_id: info_id.clone(),
                level: match level {
                    AdoptionLevel::County => pb::AdoptionLevel::County,
                    AdoptionLevel::City => pb::AdoptionLevel::City,
                    AdoptionLevel::Province => pb::AdoptionLevel::Province,
                    AdoptionLevel::National => pb::AdoptionLevel::National,
                } as i32,
                by: by.clone(),
            }),
            KindArgs::ResultAdopted { result_id, by, how } => Kind::ResultAdopted(pb::ResultAdopted {
                result_id: result_id.clone(),
                by: by.clone(),
                how: how.clone(),
            }),
            KindArgs::ResearchCompleted { title, summary, attachments } => {
                Kind::ResearchCompleted(pb::ResearchCompleted {
                    title: title.clone(),
                    summary: summary.clone(),
                    attachments: attachments.clone(),
                    group_id: String::new(),
                    year: 0,
                })
            }
        }
    }
}
