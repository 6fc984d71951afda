//! `linkctl append indicator-set-issued` and `evaluation-rated`: the 评价
//! events, flattened into `linkctl append`'s subcommands.

use crate::labels::parse_time;
use clap::{Subcommand, ValueEnum};
use linkage_core::pb;
use linkage_core::pb::payload::Kind;

/// `EvaluationSubject` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Subject {
    /// 调研成果
    Research,
    /// 提案
    Proposal,
    /// 社情民意
    InfoItem,
}

impl Subject {
    /// The proto value.
    pub fn to_pb(self) -> pb::EvaluationSubject {
        match self {
            Subject::Research => pb::EvaluationSubject::Research,
            Subject::Proposal => pb::EvaluationSubject::Proposal,
            Subject::InfoItem => pb::EvaluationSubject::InfoItem,
        }
    }
}

/// The 评价 event kinds.
#[derive(Subcommand, Clone)]
pub enum EvaluationArgs {
    /// 评价 指标体系: the province's indicator set for one kind of work (channel all).
    IndicatorSetIssued {
        /// The kind of work it evaluates
        #[arg(long, value_enum)]
        subject: Subject,
        /// Work submitted from this date on (RFC 3339)
        #[arg(long)]
        effective: String,
        /// A title
        #[arg(long, default_value = "")]
        title: String,
        /// CODE:POINTS:MEASURE:NAME[:GROUP], MEASURE one of judged, filed, answered-on-time,
        /// satisfaction, solved, adopted, adopted-above, instructed, reused, fed-back, levels (repeatable)
        #[arg(long = "indicator", required = true)]
        indicators: Vec<String>,
        /// NAME:MIN_POINTS, e.g. 优秀:85 (repeatable)
        #[arg(long = "grade")]
        grades: Vec<String>,
    },
    /// 评价 评分: rate the judged indicators of another committee's work (channel chain:<its origin>).
    EvaluationRated {
        /// Event id of the proposal, item or result
        #[arg(long)]
        subject_id: String,
        /// Event id of the indicator set
        #[arg(long)]
        set_id: String,
        /// CODE:POINTS (repeatable)
        #[arg(long = "score", required = true)]
        scores: Vec<String>,
        /// A note
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn measure(word: &str) -> anyhow::Result<pb::Measure> {
    use pb::Measure as M;
    Ok(match word {
        "judged" => M::Judged,
        "filed" => M::Filed,
        "answered-on-time" => M::AnsweredOnTime,
        "satisfaction" => M::Satisfaction,
        "solved" => M::Solved,
        "adopted" => M::Adopted,
        "adopted-above" => M::AdoptedAbove,
        "instructed" => M::Instructed,
        "reused" => M::Reused,
        "fed-back" => M::FedBack,
        "levels" => M::Levels,
        other => anyhow::bail!("--indicator: measure {other:?} is not one of judged, filed, answered-on-time, satisfaction, solved, adopted, adopted-above, instructed, reused, fed-back, levels"),
    })
}

fn points(flag: &str, text: &str) -> anyhow::Result<u32> {
    text.parse().map_err(|_| anyhow::anyhow!("{flag}: {text:?} is not a whole number of points"))
}

impl EvaluationArgs {
    /// The payload.
    pub fn to_kind(&self) -> anyhow::Result<Kind> {
        Ok(match self.clone() {
            EvaluationArgs::IndicatorSetIssued { subject, effective, title, indicators, grades } => {
                let indicators = indicators
                    .iter()
                    .map(|i| {
                        let parts: Vec<&str> = i.splitn(5, ':').collect();
                        let [code, p, m, name, rest @ ..] = &parts[..] else {
                            anyhow::bail!("--indicator {i:?}: expected CODE:POINTS:MEASURE:NAME[:GROUP]");
                        };
                        if rest.first().is_some_and(|g| g.contains(':')) {
                            anyhow::bail!("--indicator {i:?}: a name or group holds no ':'");
                        }
                        Ok(pb::Indicator {
                            code: code.to_string(),
                            name: name.to_string(),
                            group: rest.first().copied().unwrap_or_default().into(),
                            points: points("--indicator", p)?,
                            measure: measure(m)? as i32,
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                let grades = grades
                    .iter()
                    .map(|g| {
                        let (name, min) = g
                            .rsplit_once(':')
                            .ok_or_else(|| anyhow::anyhow!("--grade {g:?}: expected NAME:MIN_POINTS"))?;
                        Ok(pb::Grade { name: name.into(), min_points: points("--grade", min)? })
                    })
                    .collect::<anyhow::Result<_>>()?;
                Kind::IndicatorSetIssued(pb::IndicatorSetIssued {
                    subject: subject.to_pb() as i32,
                    effective: Some(parse_time("--effective", &effective)?),
                    title,
                    indicators,
                    grades,
                })
            }
            EvaluationArgs::EvaluationRated { subject_id, set_id, scores, note } => {
                let scores = scores
                    .iter()
                    .map(|s| {
                        let (code, p) =
                            s.rsplit_once(':').ok_or_else(|| anyhow::anyhow!("--score {s:?}: expected CODE:POINTS"))?;
                        Ok(pb::IndicatorScore { code: code.into(), points: points("--score", p)? })
                    })
                    .collect::<anyhow::Result<_>>()?;
                Kind::EvaluationRated(pb::EvaluationRated { subject_id, set_id, scores, note })
            }
        })
    }
}
