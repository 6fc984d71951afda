//! `linkctl append <kind>`: one subcommand per domain event, so that nobody
//! writes protobuf by hand.

use crate::labels::{document_roots, parse_time, Adoption, Category, Outcome, Rank, Response, Returns};
use clap::{Args, Subcommand};
use linkage_core::pb;
use linkage_core::pb::payload::Kind;

mod evaluation;
mod proposals;
pub use evaluation::Subject;

/// Options common to every append, then the event kind.
#[derive(Args)]
pub struct AppendArgs {
    /// Audience (required): up, down, all, group:<id>, to:<code> or chain:<code> (an item's handling)
    #[arg(global = true, long, help_heading = "Envelope (every kind)")]
    channel: Option<String>,
    /// Id of an event this one answers or builds on (repeatable)
    #[arg(global = true, long = "ref", help_heading = "Envelope (every kind)")]
    refs: Vec<String>,
    /// Retry-safe key: the same key and content return the first event
    #[arg(global = true, long, help_heading = "Envelope (every kind)")]
    idempotency_key: Option<String>,
    /// When it happened (RFC 3339, e.g. 2026-11-27T09:00:00+08:00); now when absent
    #[arg(global = true, long, help_heading = "Envelope (every kind)")]
    occurred_at: Option<String>,
    #[command(subcommand)]
    kind: KindArgs,
}

/// The event kinds, in the order of `Payload` in event.proto.
#[derive(Subcommand, Clone)]
enum KindArgs {
    // 沟通 — planning before the work.
    /// 沟通 选题: propose a topic for the draft annual plan.
    TopicProposed {
        /// Plan year, 2000..=2100
        #[arg(long)]
        year: u32,
        /// Kind of work: 协商 consultation, 调研 research, 视察 inspection, 提案 proposal, 民主监督 supervision
        #[arg(long, value_enum)]
        category: Category,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Summary
        #[arg(long, default_value = "")]
        summary: String,
        /// The special committee (专门委员会) that leads it
        #[arg(long, default_value = "")]
        lead_committee: String,
    },
    /// 沟通 意见: comment on another level's topic before the plan is final.
    TopicCommented {
        /// Event id of the topic
        #[arg(long)]
        topic_id: String,
        /// The comment, 1..=2000 characters
        #[arg(long)]
        text: String,
    },
    /// 沟通 联动: link two or more levels' topics as the same work.
    TopicLinked {
        /// Event id of a topic (repeat: 2..=64 distinct topics)
        #[arg(long = "topic-id", visible_alias = "topic", required = true)]
        topic_ids: Vec<String>,
        /// Why they are the same work
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 沟通 参加/不参加: join or decline a (linked) topic.
    TopicResponded {
        /// Event id of the topic
        #[arg(long)]
        topic_id: String,
        /// 参加 joined or 不参加 declined
        #[arg(long, value_enum)]
        response: Response,
        /// A note with the answer
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 沟通 撤回/合并/未列入计划: close one's own topic without a plan.
    TopicClosed {
        /// Event id of the topic
        #[arg(long)]
        topic_id: String,
        /// 撤回 withdrawn, 合并 merged or 未列入计划 not-selected
        #[arg(long, value_enum)]
        outcome: Outcome,
        /// The topic it was merged into (with --outcome merged)
        #[arg(long, default_value = "")]
        into_topic_id: String,
        /// Why
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 沟通 年度计划: publish the annual plan (年度协商计划 / 调研计划).
    PlanPublished {
        /// Plan year, 2000..=2100
        #[arg(long)]
        year: u32,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Event id of a topic in the plan (repeatable)
        #[arg(long = "topic-id", visible_alias = "topic")]
        topic_ids: Vec<String>,
    },

    // 联通 — during the work.
    /// 联通 联动调研组: form a joint group (its channel is group:<group-id>).
    GroupFormed {
        /// Group id, 1..=64 of [a-z0-9-]
        #[arg(long)]
        group_id: String,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Node code of the leading committee
        #[arg(long)]
        lead: String,
        /// Node code of another member (repeatable)
        #[arg(long = "member")]
        members: Vec<String>,
        /// Event id of a linked topic the group works on (repeatable)
        #[arg(long = "topic-id", visible_alias = "topic")]
        topic_ids: Vec<String>,
    },
    /// 联通 加入: a committee joins a group.
    GroupJoined {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Node code of the committee that joins
        #[arg(long)]
        member: String,
    },
    /// 联通 退出: a committee leaves a group.
    GroupLeft {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Node code of the committee that leaves
        #[arg(long)]
        member: String,
    },
    /// 联通 子课题: assign a sub-topic to a committee.
    TaskAssigned {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Task id, 1..=64 of [a-z0-9-]
        #[arg(long)]
        task_id: String,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Node code of the committee that does it
        #[arg(long)]
        assignee: String,
        /// Due date (RFC 3339, e.g. 2027-03-31T00:00:00Z)
        #[arg(long)]
        due: String,
    },
    /// 联通 延期: the lead moves a sub-topic's due date, saying why.
    TaskDueChanged {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Task id
        #[arg(long)]
        task_id: String,
        /// The new due date (RFC 3339)
        #[arg(long)]
        due: String,
        /// Why, 1..=2000 characters
        #[arg(long)]
        reason: String,
    },
    /// 联通 节点: a task or the whole group reaches a milestone.
    MilestoneReached {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Task id; the group's own milestone when absent
        #[arg(long, default_value = "")]
        task_id: String,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
    },
    /// 联通 进度: report progress on a task.
    ProgressReported {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Task id
        #[arg(long)]
        task_id: String,
        /// Percent done, 0..=100
        #[arg(long)]
        percent: u32,
        /// What was done
        #[arg(long, default_value = "")]
        text: String,
    },
    /// 联通 分报告: submit the sub-report of a task.
    SubReportSubmitted {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Task id
        #[arg(long)]
        task_id: String,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Summary
        #[arg(long, default_value = "")]
        summary: String,
        /// Attachment reference, e.g. doc://… (repeatable)
        #[arg(long = "attachment")]
        attachments: Vec<String>,
        /// A member of this committee who took part, e.g. 620722-0017 (repeatable)
        #[arg(long = "member-id")]
        member_ids: Vec<String>,
        /// A document put with `linkctl document put`, by its root (64 hex digits; repeatable, at most 4)
        #[arg(long = "document")]
        documents: Vec<String>,
    },
    /// 联通 总报告: the lead merges the sub-reports into one consolidated report.
    ConsolidatedReportSubmitted {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Summary
        #[arg(long, default_value = "")]
        summary: String,
        /// Event id of a merged sub-report (repeatable)
        #[arg(long = "sub-report-id", visible_alias = "sub-report")]
        sub_report_ids: Vec<String>,
    },
    /// 联通 联动视察: schedule a joint inspection or remote consultation (远程协商).
    VisitScheduled {
        /// Group id
        #[arg(long)]
        group_id: String,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// When it starts (RFC 3339, e.g. 2027-05-10T09:00:00+08:00)
        #[arg(long)]
        starts: String,
        /// A place visited (repeatable, at most 64)
        #[arg(long = "place")]
        places: Vec<String>,
    },

    // 畅通 — information both ways.
    /// 畅通 社情民意: submit a public-opinion information item.
    InfoReported {
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Text, 1..=20000 characters
        #[arg(long)]
        body: String,
        /// Who raised it: a member (委员), party, sector or committee
        #[arg(long, default_value = "")]
        submitter: String,
        /// Sector (界别)
        #[arg(long, default_value = "")]
        sector: String,
        /// The member of this committee who raised it, e.g. 620722-0017
        #[arg(long, default_value = "")]
        member_id: String,
    },
    /// 畅通 编发: the research office edits and publishes an item in 《社情民意》.
    InfoPublished {
        /// Event id of the item
        #[arg(long)]
        info_id: String,
        /// The issue it appears in, e.g. 2027年第12期
        #[arg(long, default_value = "")]
        issue: String,
    },
    /// 畅通 转报: forward an item to a higher level or to the party committee / government.
    InfoForwarded {
        /// Event id of the item
        #[arg(long)]
        info_id: String,
        /// Where it goes, e.g. 全国政协 or 省委办公厅
        #[arg(long)]
        to: String,
    },
    /// 畅通 采用: record that an item was adopted at a level.
    InfoAdopted {
        /// Event id of the item
        #[arg(long)]
        info_id: String,
        /// Level of the adoption: 县级 county, 市级 city, 省级 province, 全国 national
        #[arg(long, value_enum)]
        level: Adoption,
        /// Who adopted it
        #[arg(long, default_value = "")]
        by: String,
        /// Adopted within a combined report (综合采用), not on its own (单篇)
        #[arg(long)]
        combined: bool,
    },
    /// 畅通 领导批示: record a leader's instruction on an item.
    InfoInstructed {
        /// Event id of the item
        #[arg(long)]
        info_id: String,
        /// The leader, 1..=200 characters
        #[arg(long)]
        leader: String,
        /// The instruction
        #[arg(long, default_value = "")]
        text: String,
        /// The leader's rank: deputy (分管领导) or principal (主要领导)
        #[arg(long, value_enum)]
        rank: Option<Rank>,
        /// The leader's level, if not this node's own (the province records 全国政协's: national)
        #[arg(long, value_enum)]
        level: Option<Adoption>,
    },
    /// 畅通 不采用 / 退回: this level does not use the item, or sends it back.
    InfoDeclined {
        /// Event id of the item
        #[arg(long)]
        info_id: String,
        /// Why, 1..=2000 characters
        #[arg(long)]
        reason: String,
        /// Send it back (退回) to the level below, not only decline it
        #[arg(long)]
        returned: bool,
    },
    /// 畅通 综合编发: merge the item into a 综合 item of this node's own.
    InfoMerged {
        /// Event id of the item merged
        #[arg(long)]
        info_id: String,
        /// Event id of this node's 综合 item
        #[arg(long)]
        into_id: String,
    },
    /// 畅通 计分办法: the province's score rule for 社情民意 items (on `all`).
    ScoreRuleIssued {
        /// The date it takes effect, RFC 3339 (adoptions and 批示 on or after it)
        #[arg(long)]
        effective: String,
        /// Points per adoption by levels above the submitter: own,+1,+2,+3
        #[arg(long, value_delimiter = ',')]
        adoption: Vec<u32>,
        /// Percent of those points for a combined adoption (综合采用)
        #[arg(long, default_value_t = 100)]
        combined_percent: u32,
        /// Points per 批示 by a deputy leader, by levels above the submitter
        #[arg(long, value_delimiter = ',')]
        deputy: Vec<u32>,
        /// Points per 批示 by a principal leader, by levels above the submitter
        #[arg(long, value_delimiter = ',')]
        principal: Vec<u32>,
        /// Percent of an adoption's points credited to each forwarding committee
        #[arg(long, default_value_t = 0)]
        forward_credit_percent: u32,
        /// Title, e.g. 2027年社情民意信息计分办法
        #[arg(long, default_value = "")]
        title: String,
    },
    /// 畅通 反馈: record the departments' feedback on an item.
    InfoFeedback {
        /// Event id of the item
        #[arg(long)]
        info_id: String,
        /// The feedback, 1..=2000 characters
        #[arg(long)]
        text: String,
    },
    /// 畅通 上情下达: issue a notice or decision.
    NoticeIssued {
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Text
        #[arg(long, default_value = "")]
        body: String,
        /// Recipients must acknowledge it (签收)
        #[arg(long)]
        requires_acknowledgement: bool,
        /// What recipients send back (a 征集 notice); replies cite the notice with --ref
        #[arg(long, value_enum)]
        expects: Option<Returns>,
        /// When returns are due, RFC 3339; required with --expects
        #[arg(long)]
        due: Option<String>,
    },
    /// 畅通 签收: acknowledge a notice.
    NoticeAcknowledged {
        /// Event id of the notice
        #[arg(long)]
        notice_id: String,
    },
    /// 畅通 催办: remind a notice's recipients of their returns (its issuer only).
    NoticeReminded {
        /// Event id of the notice
        #[arg(long)]
        notice_id: String,
        /// Node codes to remind; none: every recipient without a return
        #[arg(long = "to", value_delimiter = ',')]
        to: Vec<String>,
        /// A note, at most 2000 characters
        #[arg(long, default_value = "")]
        note: String,
    },

    // 委员 — each committee's register of its members (on chain:<own code>).
    /// 委员 登记: register a member of this committee; name and other personal fields are sealed by the node.
    MemberRegistered {
        /// <this committee's code>-<local id>, e.g. 620722-0017 (keep it opaque: ids are never erased)
        #[arg(long)]
        member_id: String,
        #[command(flatten)]
        entry: MemberEntry,
        #[command(flatten)]
        personal: Personal,
    },
    /// 委员 变更: change a member's entry; personal fields given replace the sealed ones, others stay.
    MemberUpdated {
        /// The member's id
        #[arg(long)]
        member_id: String,
        #[command(flatten)]
        entry: MemberEntry,
        #[command(flatten)]
        personal: Personal,
    },
    /// 委员 离任: the member leaves the committee.
    MemberLeft {
        /// The member's id
        #[arg(long)]
        member_id: String,
        /// Why, at most 2000 characters
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// 委员 信息删除 (PIPL): destroy the member's key; the personal fields become unreadable everywhere.
    MemberErased {
        /// The member's id
        #[arg(long)]
        member_id: String,
    },
    /// 委员 履职: record a member's themed talk (主题发言) or suggestion (合理化建议).
    MemberContributed {
        /// The member's id
        #[arg(long)]
        member_id: String,
        /// themed-talk or suggestion
        #[arg(long, value_enum)]
        kind: Contribution,
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// The meeting or occasion
        #[arg(long, default_value = "")]
        occasion: String,
    },
    /// 委员 "N个一": the province's yearly duties of every member (channel all).
    MemberDutiesIssued {
        /// Year, 2000..=2100
        #[arg(long)]
        year: u32,
        /// A title, e.g. 2027年委员履职“N个一”
        #[arg(long, default_value = "")]
        title: String,
        /// Themed talks (主题发言) each member owes
        #[arg(long, default_value_t = 0)]
        themed_talks: u32,
        /// Suggestions (合理化建议)
        #[arg(long, default_value_t = 0)]
        suggestions: u32,
        /// High-quality proposals (filed at some level)
        #[arg(long, default_value_t = 0)]
        proposals: u32,
        /// Valuable 社情民意 items (adopted at some level)
        #[arg(long, default_value_t = 0)]
        info_items: u32,
        /// Joint research (sub-reports naming the member)
        #[arg(long, default_value_t = 0)]
        research: u32,
    },

    // 互通 — using the results.
    /// 互通 调研成果: record a completed study.
    ResearchCompleted {
        /// Report title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// Summary
        #[arg(long, default_value = "")]
        summary: String,
        /// Attachment reference, e.g. doc://… (repeatable, at most 64)
        #[arg(long = "attachment")]
        attachments: Vec<String>,
        /// The group whose work it is
        #[arg(long, default_value = "")]
        group_id: String,
        /// Year, 2000..=2100; unset when absent
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        year: u32,
        /// Kind of work it came from: 协商 consultation, 调研 research, 视察 inspection, 提案 proposal, 民主监督 supervision
        #[arg(long, value_enum)]
        category: Option<Category>,
        /// A document put with `linkctl document put`, by its root (64 hex digits; repeatable, at most 4)
        #[arg(long = "document")]
        documents: Vec<String>,
    },
    /// 互通 成果共享: offer a result to an audience.
    ResultShared {
        /// Event id of the result (the research-completed event)
        #[arg(long)]
        result_id: String,
        /// Audience, a channel: up, down, all, group:<id>, to:<code> or chain:<code>
        #[arg(long)]
        audience: String,
    },
    /// 互通 成果转化运用: record that a result was adopted or reused.
    ResultAdopted {
        /// Event id of the result
        #[arg(long)]
        result_id: String,
        /// Who adopted it
        #[arg(long, default_value = "")]
        by: String,
        /// How, 1..=2000 characters
        #[arg(long)]
        how: String,
    },
    /// 互通 跟踪反馈: follow-up feedback on a result.
    ResultFeedback {
        /// Event id of the result
        #[arg(long)]
        result_id: String,
        /// The feedback, 1..=2000 characters
        #[arg(long)]
        text: String,
    },
    // 提案 — proposals across levels (`append/proposals.rs`).
    #[command(flatten)]
    Proposal(proposals::ProposalArgs),
    // 评价 — quality evaluation (`append/evaluation.rs`).
    #[command(flatten)]
    Evaluation(evaluation::EvaluationArgs),
}

impl AppendArgs {
    /// The gRPC request.
    pub fn to_request(&self) -> anyhow::Result<pb::AppendRequest> {
        let occurred_at = self.occurred_at.as_deref().map(|t| parse_time("--occurred-at", t)).transpose()?;
        Ok(pb::AppendRequest {
            channel: self.channel.clone().ok_or_else(|| {
                anyhow::anyhow!("--channel is required (up, down, all, group:<id>, to:<code> or chain:<code>)")
            })?,
            payload: Some(pb::Payload { kind: Some(self.kind.to_kind()?) }),
            refs: self.refs.clone(),
            occurred_at,
            idempotency_key: self.idempotency_key.clone().unwrap_or_default(),
        })
    }
}

impl KindArgs {
    fn to_kind(&self) -> anyhow::Result<Kind> {
        Ok(match self.clone() {
            KindArgs::TopicProposed { year, category, title, summary, lead_committee } => {
                Kind::TopicProposed(pb::TopicProposed {
                    year,
                    category: category.to_pb() as i32,
                    title,
                    summary,
                    lead_committee,
                })
            }
            KindArgs::TopicCommented { topic_id, text } => Kind::TopicCommented(pb::TopicCommented { topic_id, text }),
            KindArgs::TopicLinked { topic_ids, note } => Kind::TopicLinked(pb::TopicLinked { topic_ids, note }),
            KindArgs::TopicResponded { topic_id, response, note } => {
                Kind::TopicResponded(pb::TopicResponded { topic_id, response: response.to_pb() as i32, note })
            }
            KindArgs::TopicClosed { topic_id, outcome, into_topic_id, note } => {
                Kind::TopicClosed(pb::TopicClosed { topic_id, outcome: outcome.to_pb() as i32, into_topic_id, note })
            }
            KindArgs::PlanPublished { year, title, topic_ids } => {
                Kind::PlanPublished(pb::PlanPublished { year, title, topic_ids })
            }
            KindArgs::GroupFormed { group_id, title, lead, members, topic_ids } => {
                // The node sets the rules the group is judged by.
                Kind::GroupFormed(pb::GroupFormed { group_id, title, lead, members, topic_ids, rules: 0 })
            }
            KindArgs::GroupJoined { group_id, member } => Kind::GroupJoined(pb::GroupJoined { group_id, member }),
            KindArgs::GroupLeft { group_id, member } => Kind::GroupLeft(pb::GroupLeft { group_id, member }),
            KindArgs::TaskAssigned { group_id, task_id, title, assignee, due } => {
                Kind::TaskAssigned(pb::TaskAssigned {
                    group_id,
                    task_id,
                    title,
                    assignee,
                    due: Some(parse_time("--due", &due)?),
                })
            }
            KindArgs::TaskDueChanged { group_id, task_id, due, reason } => {
                let due = Some(parse_time("--due", &due)?);
                Kind::TaskDueChanged(pb::TaskDueChanged { group_id, task_id, due, reason })
            }
            KindArgs::MilestoneReached { group_id, task_id, title } => {
                Kind::MilestoneReached(pb::MilestoneReached { group_id, task_id, title })
            }
            KindArgs::ProgressReported { group_id, task_id, percent, text } => {
                Kind::ProgressReported(pb::ProgressReported { group_id, task_id, percent, text })
            }
            KindArgs::SubReportSubmitted { group_id, task_id, title, summary, attachments, member_ids, documents } => {
                Kind::SubReportSubmitted(pb::SubReportSubmitted {
                    group_id,
                    task_id,
                    title,
                    summary,
                    attachments,
                    member_ids,
                    documents: document_roots(&documents)?,
                })
            }
            KindArgs::ConsolidatedReportSubmitted { group_id, title, summary, sub_report_ids } => {
                Kind::ConsolidatedReportSubmitted(pb::ConsolidatedReportSubmitted {
                    group_id,
                    title,
                    summary,
                    sub_report_ids,
                })
            }
            KindArgs::VisitScheduled { group_id, title, starts, places } => Kind::VisitScheduled(pb::VisitScheduled {
                group_id,
                title,
                starts: Some(parse_time("--starts", &starts)?),
                places,
            }),
            KindArgs::InfoReported { title, body, submitter, sector, member_id } => {
                Kind::InfoReported(pb::InfoReported { title, body, submitter, sector, member_id })
            }
            KindArgs::MemberRegistered { member_id, entry, personal } => Kind::MemberRegistered(pb::MemberRegistered {
                member_id,
                sector: entry.sector,
                special_committee: entry.special_committee,
                term: entry.term,
                personal: Some(personal.to_pb()),
                sealed: None,
            }),
            KindArgs::MemberUpdated { member_id, entry, personal } => {
                let personal = personal.to_pb();
                Kind::MemberUpdated(pb::MemberUpdated {
                    member_id,
                    sector: entry.sector,
                    special_committee: entry.special_committee,
                    term: entry.term,
                    personal: (personal != pb::PersonalFields::default()).then_some(personal),
                    sealed: None,
                })
            }
            KindArgs::MemberLeft { member_id, reason } => Kind::MemberLeft(pb::MemberLeft { member_id, reason }),
            KindArgs::MemberErased { member_id } => Kind::MemberErased(pb::MemberErased { member_id }),
            KindArgs::MemberContributed { member_id, kind, title, occasion } => {
                let kind = match kind {
                    Contribution::ThemedTalk => pb::ContributionKind::ThemedTalk,
                    Contribution::Suggestion => pb::ContributionKind::Suggestion,
                };
                Kind::MemberContributed(pb::MemberContributed { member_id, kind: kind as i32, title, occasion })
            }
            KindArgs::MemberDutiesIssued {
                year,
                title,
                themed_talks,
                suggestions,
                proposals,
                info_items,
                research,
            } => Kind::MemberDutiesIssued(pb::MemberDutiesIssued {
                year,
                title,
                themed_talks,
                suggestions,
                proposals,
                info_items,
                research,
            }),
            KindArgs::InfoPublished { info_id, issue } => Kind::InfoPublished(pb::InfoPublished { info_id, issue }),
            KindArgs::InfoForwarded { info_id, to } => Kind::InfoForwarded(pb::InfoForwarded { info_id, to }),
            KindArgs::InfoAdopted { info_id, level, by, combined } => {
                // The node stamps the topology version it has loaded.
                let level = level.to_pb() as i32;
                Kind::InfoAdopted(pb::InfoAdopted { info_id, level, by, combined, topology_version: 0 })
            }
            KindArgs::InfoInstructed { info_id, leader, text, rank, level } => {
                Kind::InfoInstructed(pb::InfoInstructed {
                    info_id,
                    leader,
                    text,
                    rank: rank.map_or(0, |r| r.to_pb() as i32),
                    level: level.map_or(0, |l| l.to_pb() as i32),
                    topology_version: 0,
                })
            }
            KindArgs::InfoDeclined { info_id, reason, returned } => {
                Kind::InfoDeclined(pb::InfoDeclined { info_id, reason, returned })
            }
            KindArgs::InfoMerged { info_id, into_id } => Kind::InfoMerged(pb::InfoMerged { info_id, into_id }),
            KindArgs::ScoreRuleIssued {
                effective,
                adoption,
                combined_percent,
                deputy,
                principal,
                forward_credit_percent,
                title,
            } => Kind::ScoreRuleIssued(pb::ScoreRuleIssued {
                effective: Some(parse_time("--effective", &effective)?),
                adoption_points: adoption,
                combined_percent,
                deputy_instruction_points: deputy,
                principal_instruction_points: principal,
                forward_credit_percent,
                title,
            }),
            KindArgs::InfoFeedback { info_id, text } => Kind::InfoFeedback(pb::InfoFeedback { info_id, text }),
            KindArgs::NoticeIssued { title, body, requires_acknowledgement, expects, due } => {
                Kind::NoticeIssued(pb::NoticeIssued {
                    title,
                    body,
                    requires_acknowledgement,
                    expects: expects.map_or(0, |e| e.to_pb() as i32),
                    due: due.as_deref().map(|d| parse_time("--due", d)).transpose()?,
                })
            }
            KindArgs::NoticeReminded { notice_id, to, note } => {
                Kind::NoticeReminded(pb::NoticeReminded { notice_id, to, note })
            }
            KindArgs::NoticeAcknowledged { notice_id } => {
                Kind::NoticeAcknowledged(pb::NoticeAcknowledged { notice_id })
            }
            KindArgs::ResearchCompleted { title, summary, attachments, group_id, year, category, documents } => {
                Kind::ResearchCompleted(pb::ResearchCompleted {
                    title,
                    summary,
                    attachments,
                    group_id,
                    year,
                    category: category.map_or(pb::TopicCategory::Unspecified, Category::to_pb) as i32,
                    documents: document_roots(&documents)?,
                })
            }
            KindArgs::ResultShared { result_id, audience } => {
                Kind::ResultShared(pb::ResultShared { result_id, audience })
            }
            KindArgs::ResultAdopted { result_id, by, how } => {
                Kind::ResultAdopted(pb::ResultAdopted { result_id, by, how })
            }
            KindArgs::ResultFeedback { result_id, text } => {
                Kind::ResultFeedback(pb::ResultFeedback { result_id, text })
            }
            KindArgs::Proposal(p) => p.to_kind()?,
            KindArgs::Evaluation(e) => e.to_kind()?,
        })
    }
}

/// `ContributionKind` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Contribution {
    /// 主题发言
    ThemedTalk,
    /// 合理化建议
    Suggestion,
}

/// A member's register entry on the command line.
#[derive(Args, Debug, Clone)]
pub struct MemberEntry {
    /// 界别, e.g. 农业界
    #[arg(long, default_value = "")]
    sector: String,
    /// 专委会, e.g. 农业和农村委员会
    #[arg(long, default_value = "")]
    special_committee: String,
    /// 届次, e.g. 第十三届
    #[arg(long, default_value = "")]
    term: String,
}

/// A member's personal fields on the command line: sent to this node only,
/// which seals them before it signs the event.
#[derive(Args, Debug, Clone)]
pub struct Personal {
    /// 姓名
    #[arg(long, default_value = "")]
    name: String,
    /// 性别
    #[arg(long, default_value = "")]
    gender: String,
    /// 工作单位及职务
    #[arg(long, default_value = "")]
    workplace: String,
    /// 联系电话
    #[arg(long, default_value = "")]
    phone: String,
}

impl Personal {
    fn to_pb(&self) -> pb::PersonalFields {
        pb::PersonalFields {
            name: self.name.clone(),
            gender: self.gender.clone(),
            workplace: self.workplace.clone(),
            phone: self.phone.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AppendArgs,
    }

    fn kind(argv: &[&str]) -> Kind {
        let cli = Cli::try_parse_from(std::iter::once("append").chain(argv.iter().copied())).expect("parses");
        cli.args.to_request().expect("valid").payload.and_then(|p| p.kind).expect("kind")
    }

    /// Every kind of the Payload oneof has a subcommand.
    #[test]
    fn every_payload_kind_has_a_subcommand() {
        let descriptor = crate::json::pool().get_message_by_name("linkage.v1.Payload").expect("Payload");
        let oneof = descriptor.oneofs().find(|o| o.name() == "kind").expect("oneof kind");
        let cli = <Cli as clap::CommandFactory>::command();
        let names: Vec<String> = cli.get_subcommands().map(|c| c.get_name().to_owned()).collect();
        let mut kinds = 0;
        for field in oneof.fields() {
            kinds += 1;
            let name = field.name().replace('_', "-");
            assert!(names.contains(&name), "no `linkctl append {name}`");
        }
        assert_eq!(kinds, 54);
        assert_eq!(names.len(), 54);
        // Each says which flow (or the register, 委员) and Chinese term it belongs to.
        for c in cli.get_subcommands() {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            let flows = ["沟通", "联通", "畅通", "互通", "委员", "提案", "评价"];
            assert!(flows.iter().any(|f| about.starts_with(f)), "{}: {about}", c.get_name());
            assert!(about.chars().filter(|c| !c.is_ascii()).count() > 2, "{}: {about}", c.get_name());
        }
    }

    #[test]
    fn timestamps_and_repeated_flags() {
        let k = kind(&[
            "task-assigned",
            "--channel",
            "group:hexi",
            "--group-id",
            "hexi",
            "--task-id",
            "minle",
            "--title",
            "民乐县子课题",
            "--assignee",
            "620722",
            "--due",
            "2027-03-31T00:00:00Z",
        ]);
        let Kind::TaskAssigned(t) = k else { panic!("{k:?}") };
        assert_eq!(t.due, Some(prost_types::Timestamp { seconds: 1_806_451_200, nanos: 0 }));
        assert_eq!(t.assignee, "620722");

        let k = kind(&["topic-linked", "--channel", "up", "--topic-id", "a", "--topic", "b", "--note", "同题"]);
        assert_eq!(
            k,
            Kind::TopicLinked(pb::TopicLinked { topic_ids: vec!["a".into(), "b".into()], note: "同题".into() })
        );

        let k = kind(&[
            "visit-scheduled",
            "--channel",
            "group:hexi",
            "--group-id",
            "hexi",
            "--title",
            "联动视察",
            "--starts",
            "2027-05-10T09:00:00+08:00",
            "--place",
            "民乐县",
            "--place",
            "古浪县",
        ]);
        let Kind::VisitScheduled(v) = k else { panic!("{k:?}") };
        assert_eq!(v.places, ["民乐县", "古浪县"]);
        assert_eq!(v.starts.unwrap().seconds, 1_809_910_800, "2027-05-10T01:00:00Z");
    }

    #[test]
    fn research_completed_carries_every_field() {
        let k = kind(&[
            "research-completed",
            "--channel",
            "all",
            "--title",
            "报告",
            "--attachment",
            "doc://a",
            "--attachment",
            "doc://b",
            "--group-id",
            "hexi",
            "--year",
            "2027",
            "--category",
            "inspection",
        ]);
        assert_eq!(
            k,
            Kind::ResearchCompleted(pb::ResearchCompleted {
                title: "报告".into(),
                summary: String::new(),
                attachments: vec!["doc://a".into(), "doc://b".into()],
                group_id: "hexi".into(),
                year: 2027,
                category: pb::TopicCategory::Inspection as i32,
                documents: vec![],
            })
        );
        let Kind::ResearchCompleted(r) = kind(&["research-completed", "--channel", "all", "--title", "t"]) else {
            panic!()
        };
        assert_eq!(r.category, 0);
    }

    #[test]
    fn bad_times_name_the_flag() {
        let cli = Cli::try_parse_from([
            "append",
            "task-assigned",
            "--channel",
            "up",
            "--group-id",
            "g",
            "--task-id",
            "t",
            "--title",
            "x",
            "--assignee",
            "620722",
            "--due",
            "soon",
        ])
        .unwrap();
        let err = cli.args.to_request().unwrap_err().to_string();
        assert!(err.contains("--due"), "{err}");
    }
}
