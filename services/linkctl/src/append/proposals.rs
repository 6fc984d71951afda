//! `linkctl append proposal-*` and `holiday-calendar-issued`: the 提案
//! events, flattened into `linkctl append`'s subcommands.

use crate::labels::parse_time;
use clap::{Subcommand, ValueEnum};
use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_core::proposals::Date;

/// `ProposalSubmitter` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Submitter {
    /// 委员个人
    Member,
    /// 委员联名
    MembersJoint,
    /// 界别
    Sector,
    /// 专门委员会
    SpecialCommittee,
    /// 党派、人民团体
    Party,
    /// 政协组织
    Committee,
}

/// `ProposalOutcome` and what a proposal not filed is kept as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Outcome {
    /// 立案
    Filed,
    /// 不予立案, 转为社情民意信息
    KeptAsInfo,
    /// 不予立案, 转为来信
    KeptAsLetter,
    /// 并案 (with --into-id)
    Merged,
}

/// `AnswerClass` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Class {
    /// A: 已解决或采纳
    A,
    /// B: 正在解决或列入计划
    B,
    /// C: 因条件限制暂时不能解决
    C,
    /// D: 留作参考
    D,
}

/// `Satisfaction` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rating {
    /// 满意
    Satisfied,
    /// 基本满意
    Basically,
    /// 不满意 (handled again)
    NotSatisfied,
}

/// The 提案 event kinds.
#[derive(Subcommand, Clone)]
pub enum ProposalArgs {
    /// 提案 提交: submit a proposal to this committee (channel chain:<own code>).
    ProposalSubmitted {
        /// Title, 1..=200 characters
        #[arg(long)]
        title: String,
        /// The proposal's text, 1..=20000 characters
        #[arg(long)]
        body: String,
        /// Who submits it
        #[arg(long, value_enum)]
        submitter: Submitter,
        /// Who, in words (the sector, party or special committee)
        #[arg(long, default_value = "")]
        submitter_name: String,
        /// A member of this committee who submits it (repeat for 联名)
        #[arg(long = "member-id")]
        member_ids: Vec<String>,
        /// Year, 2000..=2100
        #[arg(long)]
        year: u32,
        /// 提案类别, e.g. 经济建设
        #[arg(long, default_value = "")]
        category: String,
        /// A document put with `linkctl document put`, by its root (64 hex digits; repeatable, at most 4)
        #[arg(long = "document")]
        documents: Vec<String>,
    },
    /// 提案 联合提出: co-sign a proposal on this committee's chain.
    ProposalCoSigned {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// A member of this committee who co-signs (repeatable)
        #[arg(long = "member-id")]
        member_ids: Vec<String>,
        /// A note
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 提案 报送: send the proposal to the level above.
    ProposalSentUp {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// A note
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 提案 审查: file it (立案), keep it as 社情民意 or a letter, or merge it (并案).
    ProposalReviewed {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// What review decides
        #[arg(long, value_enum)]
        outcome: Outcome,
        /// 案号, when filed
        #[arg(long, default_value = "")]
        number: String,
        /// A key proposal (重点提案), supervised; when filed
        #[arg(long)]
        key_proposal: bool,
        /// The proposal it is merged into
        #[arg(long, default_value = "")]
        into_id: String,
        /// The 社情民意 item it became, when kept as info
        #[arg(long, default_value = "")]
        info_id: String,
        /// Why (required when not filed)
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// 提案 交办: assign a filed proposal to a lead unit and co-handling units.
    ProposalAssigned {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// The lead unit (主办单位)
        #[arg(long)]
        lead_unit: String,
        /// A co-handling unit (会办单位; repeatable)
        #[arg(long = "co-unit")]
        co_units: Vec<String>,
        /// Answer due: RFC 3339, or a date (the end of that day in China); default 3 months from today
        #[arg(long)]
        due: Option<String>,
        /// Objection window in working days (0: 5)
        #[arg(long, default_value_t = 0)]
        objection_days: u32,
    },
    /// 提案 异议: a unit objects to its assignment.
    ProposalObjected {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// The objecting unit
        #[arg(long)]
        unit: String,
        /// Why, 1..=2000 characters
        #[arg(long)]
        reason: String,
    },
    /// 提案 延期: extend the answer's deadline (at most 6 months after the assignment).
    ProposalDeadlineExtended {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// The new deadline (RFC 3339)
        #[arg(long)]
        due: String,
        /// Why, 1..=2000 characters
        #[arg(long)]
        reason: String,
    },
    /// 提案 沟通: a unit's contact with the proposer.
    ProposalContacted {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// The unit
        #[arg(long)]
        unit: String,
        /// How, 1..=2000 characters
        #[arg(long)]
        text: String,
    },
    /// 提案 答复: a unit's answer, recorded by the assigning committee.
    ProposalAnswered {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// The answering unit
        #[arg(long)]
        unit: String,
        /// The answer's class
        #[arg(long, value_enum)]
        class: Class,
        /// The answer in brief, 1..=2000 characters
        #[arg(long)]
        text: String,
        /// A document put with `linkctl document put`, by its root (64 hex digits; repeatable, at most 4)
        #[arg(long = "document")]
        documents: Vec<String>,
    },
    /// 提案 评价: the proposer's rating of a level's answer (by the proposer's committee).
    ProposalRated {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// Code of the committee whose answer is rated
        #[arg(long)]
        handler: String,
        /// The rating
        #[arg(long, value_enum)]
        satisfaction: Rating,
        /// A comment
        #[arg(long, default_value = "")]
        text: String,
        /// Event id of the answer rated [default: the handler's latest]
        #[arg(long, default_value = "")]
        answer_id: String,
    },
    /// 提案 督办: supervise a key proposal.
    ProposalSupervised {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// Who supervises, e.g. 主席会议
        #[arg(long)]
        by: String,
        /// A note
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 提案 催办: remind a unit.
    ProposalReminded {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// The unit reminded
        #[arg(long)]
        unit: String,
        /// A note
        #[arg(long, default_value = "")]
        note: String,
    },
    /// 提案 跟踪: follow up a B answer's plan.
    ProposalFollowedUp {
        /// Event id of the proposal
        #[arg(long)]
        proposal_id: String,
        /// What was found, 1..=2000 characters
        #[arg(long)]
        text: String,
    },
    /// 提案 节假日安排: the province's holiday calendar of a year (channel all).
    HolidayCalendarIssued {
        /// Year, 2000..=2100
        #[arg(long)]
        year: u32,
        /// A public holiday, YYYY-MM-DD (repeatable)
        #[arg(long = "holiday")]
        holidays: Vec<String>,
        /// A make-up working day (调休), YYYY-MM-DD (repeatable)
        #[arg(long = "workday")]
        workdays: Vec<String>,
    },
}

impl ProposalArgs {
    /// The payload.
    pub fn to_kind(&self) -> anyhow::Result<Kind> {
        Ok(match self.clone() {
            ProposalArgs::ProposalSubmitted {
                title,
                body,
                submitter,
                submitter_name,
                member_ids,
                year,
                category,
                documents,
            } => Kind::ProposalSubmitted(pb::ProposalSubmitted {
                title,
                body,
                submitter: submitter_pb(submitter) as i32,
                submitter_name,
                member_ids,
                year,
                category,
                documents: crate::labels::document_roots(&documents)?,
            }),
            ProposalArgs::ProposalCoSigned { proposal_id, member_ids, note } => {
                Kind::ProposalCoSigned(pb::ProposalCoSigned { proposal_id, member_ids, note })
            }
            ProposalArgs::ProposalSentUp { proposal_id, note } => {
                Kind::ProposalSentUp(pb::ProposalSentUp { proposal_id, note })
            }
            ProposalArgs::ProposalReviewed { proposal_id, outcome, number, key_proposal, into_id, info_id, reason } => {
                use pb::{ProposalKeptAs as K, ProposalOutcome as O};
                let (outcome, kept_as) = match outcome {
                    Outcome::Filed => (O::Filed, K::Unspecified),
                    Outcome::KeptAsInfo => (O::NotFiled, K::Info),
                    Outcome::KeptAsLetter => (O::NotFiled, K::Letter),
                    Outcome::Merged => (O::Merged, K::Unspecified),
                };
                Kind::ProposalReviewed(pb::ProposalReviewed {
                    proposal_id,
                    outcome: outcome as i32,
                    number,
                    key: key_proposal,
                    kept_as: kept_as as i32,
                    into_id,
                    info_id,
                    reason,
                })
            }
            ProposalArgs::ProposalAssigned { proposal_id, lead_unit, co_units, due, objection_days } => {
                let due = match due {
                    Some(d) => deadline("--due", &d)?,
                    None => {
                        let now =
                            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
                        let today = linkage_core::proposals::Date::at_ms(now);
                        let day = Date::from_days(today.days() + linkage_core::proposals::ANSWER_DAYS_DEFAULT);
                        end_of(day)
                    }
                };
                Kind::ProposalAssigned(pb::ProposalAssigned {
                    proposal_id,
                    lead_unit,
                    co_units,
                    due: Some(due),
                    objection_days,
                })
            }
            ProposalArgs::ProposalObjected { proposal_id, unit, reason } => {
                Kind::ProposalObjected(pb::ProposalObjected { proposal_id, unit, reason })
            }
            ProposalArgs::ProposalDeadlineExtended { proposal_id, due, reason } => {
                let due = Some(deadline("--due", &due)?);
                Kind::ProposalDeadlineExtended(pb::ProposalDeadlineExtended { proposal_id, due, reason })
            }
            ProposalArgs::ProposalContacted { proposal_id, unit, text } => {
                Kind::ProposalContacted(pb::ProposalContacted { proposal_id, unit, text })
            }
            ProposalArgs::ProposalAnswered { proposal_id, unit, class, text, documents } => {
                let class = match class {
                    Class::A => pb::AnswerClass::A,
                    Class::B => pb::AnswerClass::B,
                    Class::C => pb::AnswerClass::C,
                    Class::D => pb::AnswerClass::D,
                };
                let documents = crate::labels::document_roots(&documents)?;
                Kind::ProposalAnswered(pb::ProposalAnswered { proposal_id, unit, class: class as i32, text, documents })
            }
            ProposalArgs::ProposalRated { proposal_id, handler, satisfaction, text, answer_id } => {
                let satisfaction = match satisfaction {
                    Rating::Satisfied => pb::Satisfaction::Satisfied,
                    Rating::Basically => pb::Satisfaction::Basically,
                    Rating::NotSatisfied => pb::Satisfaction::NotSatisfied,
                };
                let satisfaction = satisfaction as i32;
                Kind::ProposalRated(pb::ProposalRated { proposal_id, handler, satisfaction, text, answer_id })
            }
            ProposalArgs::ProposalSupervised { proposal_id, by, note } => {
                Kind::ProposalSupervised(pb::ProposalSupervised { proposal_id, by, note })
            }
            ProposalArgs::ProposalReminded { proposal_id, unit, note } => {
                Kind::ProposalReminded(pb::ProposalReminded { proposal_id, unit, note })
            }
            ProposalArgs::ProposalFollowedUp { proposal_id, text } => {
                Kind::ProposalFollowedUp(pb::ProposalFollowedUp { proposal_id, text })
            }
            ProposalArgs::HolidayCalendarIssued { year, holidays, workdays } => {
                Kind::HolidayCalendarIssued(pb::HolidayCalendarIssued { year, holidays, workdays })
            }
        })
    }
}

/// The last second of `day` in China: what a deadline on a date means.
fn end_of(day: Date) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: day.end_ms() / 1000 - 1, nanos: 0 }
}

/// A deadline: a date is the end of that day in China; else RFC 3339.
fn deadline(flag: &str, text: &str) -> anyhow::Result<prost_types::Timestamp> {
    match Date::parse(text.trim()) {
        Some(day) => Ok(end_of(day)),
        None => parse_time(flag, text),
    }
}

fn submitter_pb(s: Submitter) -> pb::ProposalSubmitter {
    use pb::ProposalSubmitter as W;
    match s {
        Submitter::Member => W::Member,
        Submitter::MembersJoint => W::MembersJoint,
        Submitter::Sector => W::Sector,
        Submitter::SpecialCommittee => W::SpecialCommittee,
        Submitter::Party => W::Party,
        Submitter::Committee => W::Committee,
    }
}
