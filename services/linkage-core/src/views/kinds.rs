//! Names of payload kinds, and which kinds answer a notice: what the
//! folds, the rules and the queries share.

use crate::pb::payload::Kind;

/// The payload's field name in `linkage.v1.Payload`, e.g. `topic_commented`.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::TopicProposed(_) => "topic_proposed",
        Kind::TopicCommented(_) => "topic_commented",
        Kind::TopicLinked(_) => "topic_linked",
        Kind::TopicResponded(_) => "topic_responded",
        Kind::PlanPublished(_) => "plan_published",
        Kind::TopicClosed(_) => "topic_closed",
        Kind::GroupFormed(_) => "group_formed",
        Kind::GroupJoined(_) => "group_joined",
        Kind::GroupLeft(_) => "group_left",
        Kind::TaskAssigned(_) => "task_assigned",
        Kind::MilestoneReached(_) => "milestone_reached",
        Kind::ProgressReported(_) => "progress_reported",
        Kind::SubReportSubmitted(_) => "sub_report_submitted",
        Kind::ConsolidatedReportSubmitted(_) => "consolidated_report_submitted",
        Kind::VisitScheduled(_) => "visit_scheduled",
        Kind::TaskDueChanged(_) => "task_due_changed",
        Kind::InfoReported(_) => "info_reported",
        Kind::InfoPublished(_) => "info_published",
        Kind::InfoForwarded(_) => "info_forwarded",
        Kind::InfoAdopted(_) => "info_adopted",
        Kind::InfoInstructed(_) => "info_instructed",
        Kind::InfoFeedback(_) => "info_feedback",
        Kind::NoticeIssued(_) => "notice_issued",
        Kind::NoticeAcknowledged(_) => "notice_acknowledged",
        Kind::NoticeReminded(_) => "notice_reminded",
        Kind::InfoDeclined(_) => "info_declined",
        Kind::InfoMerged(_) => "info_merged",
        Kind::ScoreRuleIssued(_) => "score_rule_issued",
        Kind::MemberRegistered(_) => "member_registered",
        Kind::MemberUpdated(_) => "member_updated",
        Kind::MemberLeft(_) => "member_left",
        Kind::MemberErased(_) => "member_erased",
        Kind::MemberContributed(_) => "member_contributed",
        Kind::MemberDutiesIssued(_) => "member_duties_issued",
        Kind::ResearchCompleted(_) => "research_completed",
        Kind::ResultShared(_) => "result_shared",
        Kind::ResultAdopted(_) => "result_adopted",
        Kind::ResultFeedback(_) => "result_feedback",
        Kind::ProposalSubmitted(_) => "proposal_submitted",
        Kind::ProposalCoSigned(_) => "proposal_co_signed",
        Kind::ProposalSentUp(_) => "proposal_sent_up",
        Kind::ProposalReviewed(_) => "proposal_reviewed",
        Kind::ProposalAssigned(_) => "proposal_assigned",
        Kind::ProposalObjected(_) => "proposal_objected",
        Kind::ProposalDeadlineExtended(_) => "proposal_deadline_extended",
        Kind::ProposalContacted(_) => "proposal_contacted",
        Kind::ProposalAnswered(_) => "proposal_answered",
        Kind::ProposalRated(_) => "proposal_rated",
        Kind::ProposalSupervised(_) => "proposal_supervised",
        Kind::ProposalReminded(_) => "proposal_reminded",
        Kind::ProposalFollowedUp(_) => "proposal_followed_up",
        Kind::HolidayCalendarIssued(_) => "holiday_calendar_issued",
        Kind::IndicatorSetIssued(_) => "indicator_set_issued",
        Kind::EvaluationRated(_) => "evaluation_rated",
    }
}

/// Whether `kind` is a reply to the notices its refs name: a topic, a
/// 社情民意 item or a report, what a notice may ask back.
pub(super) fn replies(kind: &Kind) -> bool {
    matches!(kind, Kind::TopicProposed(_) | Kind::InfoReported(_) | Kind::ResearchCompleted(_))
}
