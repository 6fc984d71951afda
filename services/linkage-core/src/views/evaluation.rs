//! 评价 records: the province's indicator sets, and the ratings of each
//! piece of work; and what the append path checks of a rating. What an
//! evaluation comes to is computed at query time (`super::evaluate`).

use super::source::{insert_stamped, lesser, Source, Stamp};
use super::{load, norm, Records};
use crate::error::{AppendError, FieldViolation};
use crate::pb;
use crate::pb::payload::Kind;
use crate::pb::EvaluationSubject as E;

/// A set is its one event: the record keeps it whole. Two events under
/// one id (only their origin can sign both) go to the lesser stamp, then
/// the lesser encoding.
pub(super) fn fold_set(r: &mut pb::IndicatorSet, id: &str, kind: &Kind, src: &Source<'_>) {
    let Kind::IndicatorSetIssued(m) = kind else { return };
    let candidate = pb::IndicatorSet {
        id: id.to_string(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        set: Some(m.clone()),
        known: true,
        disputed: Vec::new(),
    };
    let bare = pb::IndicatorSet { disputed: Vec::new(), ..r.clone() };
    let replace = !r.known
        || (candidate.hlc, &candidate.origin) < (r.hlc, &r.origin)
        || ((candidate.hlc, &candidate.origin) == (r.hlc, &r.origin) && lesser(&candidate, &bare));
    r.id = id.to_string();
    if replace {
        let disputed = std::mem::take(&mut r.disputed);
        *r = candidate;
        r.disputed = disputed;
    }
}

/// Ratings one committee keeps under one set for one piece of work: its
/// latest, and a few before them for evaluations as of an earlier date.
pub const RATINGS_PER_RATER_MAX: usize = 8;

/// Each rating of the work `id`, by stamp: of each rater under each set
/// the [`RATINGS_PER_RATER_MAX`] latest, the same ones everywhere, so
/// that no rater crowds out another's.
pub(super) fn fold_rating(r: &mut pb::EvaluationRatings, id: &str, kind: &Kind, src: &Source<'_>) {
    let Kind::EvaluationRated(m) = kind else { return };
    r.subject_id = id.to_string();
    let mut scores = m.scores.clone();
    scores.truncate(crate::validate::INDICATORS_MAX);
    let rating = pb::Rating {
        event_id: src.id.clone(),
        origin: src.origin.to_string(),
        hlc: src.hlc,
        set_id: norm(&m.set_id),
        scores,
        note: m.note.clone(),
    };
    let (origin, set) = (rating.origin.clone(), rating.set_id.clone());
    insert_stamped(&mut r.ratings, rating, |x| Stamp::new(x.hlc, &x.origin, &x.event_id));
    let same = |x: &pb::Rating| x.origin == origin && x.set_id == set;
    let mut over = r.ratings.iter().filter(|x| same(x)).count().saturating_sub(RATINGS_PER_RATER_MAX);
    r.ratings.retain(|x| {
        let drop = over > 0 && same(x);
        over -= usize::from(drop);
        !drop
    });
    r.known = true;
}

fn refuse(field: String, description: impl Into<String>) -> AppendError {
    AppendError::Precondition(FieldViolation::new(field, description))
}

/// The work an event id names, as held here: its kind and origin.
pub fn subject_of(records: &mut impl Records, id: &str) -> Option<(E, String)> {
    let id = norm(id);
    if let Some(p) = load::<pb::Proposal>(records, &id).filter(|p| p.known) {
        return Some((E::Proposal, p.origin));
    }
    if let Some(i) = load::<pb::InfoItem>(records, &id).filter(|i| i.known) {
        return Some((E::InfoItem, i.origin));
    }
    load::<pb::Result>(records, &id).filter(|r| r.known).map(|r| (E::Research, r.origin))
}

/// The work a rating names, refused unless held here: checked before who
/// may rate it, so that work nobody holds is named as such.
pub fn check_subject_held(m: &pb::EvaluationRated, records: &mut impl Records) -> Result<(E, String), AppendError> {
    subject_of(records, &m.subject_id).ok_or_else(|| {
        refuse(
            "payload.evaluation_rated.subject_id".into(),
            "no proposal, 社情民意 item or result with this id is held here",
        )
    })
}

/// A rating names work and a set held here, of the same kind, and scores
/// only the set's judged indicators, each within its points.
pub fn check_rating(m: &pb::EvaluationRated, records: &mut impl Records) -> Result<(), AppendError> {
    let f = "payload.evaluation_rated";
    let (subject, _) = check_subject_held(m, records)?;
    let set = load::<pb::IndicatorSet>(records, &norm(&m.set_id))
        .filter(|s| s.known)
        .and_then(|s| s.set)
        .ok_or_else(|| refuse(format!("{f}.set_id"), "no indicator set with this id is held here"))?;
    if set.subject != subject as i32 {
        return Err(refuse(
            format!("{f}.set_id"),
            format!("is an indicator set for {}, not for this work ({})", name(set.subject), subject.as_str_name()),
        ));
    }
    for (i, s) in m.scores.iter().enumerate() {
        let judged = set.indicators.iter().find(|x| x.code == s.code && x.measure == pb::Measure::Judged as i32);
        let Some(x) = judged else {
            return Err(refuse(format!("{f}.scores[{i}].code"), "is not a judged indicator of the set"));
        };
        if s.points > x.points {
            return Err(refuse(format!("{f}.scores[{i}].points"), format!("must be at most {} points", x.points)));
        }
    }
    Ok(())
}

fn name(subject: i32) -> &'static str {
    E::try_from(subject).unwrap_or_default().as_str_name()
}
