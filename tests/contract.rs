//! The gRPC contract, table-driven: each bad input, its exact status code
//! and the field it names; and nothing written by a rejected request.
//! Then the good paths: idempotency, paging, subscribe without a gap.

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_proto::v1::exchange_service_client::ExchangeServiceClient;
use linkage_proto::v1::planning_service_client::PlanningServiceClient;
use linkage_proto::v1::progress_service_client::ProgressServiceClient;
use linkage_testkit::{topology, NodeProcess};
use tonic::Code;
use tonic_types::StatusExt;

const A_UUID: &str = "0190b6c8-7d2e-7abc-8def-0123456789ab";

fn info(title: &str, body: &str) -> Kind {
    Kind::InfoReported(pb::InfoReported { title: title.into(), body: body.into(), ..Default::default() })
}

fn append(channel: &str, kind: Option<Kind>) -> pb::AppendRequest {
    pb::AppendRequest { channel: channel.into(), payload: Some(pb::Payload { kind }), ..Default::default() }
}

fn topic(year: u32, category: pb::TopicCategory, title: &str) -> Kind {
    Kind::TopicProposed(pb::TopicProposed {
        year,
        category: category as i32,
        title: title.into(),
        ..Default::default()
    })
}

/// A call and what it must answer. A table of a few dozen rows: the size
/// of the largest variant costs nothing here.
#[allow(clippy::large_enum_variant)]
enum Call {
    Append(pb::AppendRequest),
    Batch(Vec<pb::AppendRequest>),
    BatchView(Vec<pb::AppendRequest>, i32),
    Get(&'static str),
    Read(pb::ReadRequest),
    ListTopics(pb::ListTopicsRequest),
    GetTopic(&'static str),
    ListInfoItems(pb::ListInfoItemsRequest),
    InfoStatistics(pb::GetInfoStatisticsRequest),
    GetGroup(&'static str),
}

fn field_of(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

async fn call(node: &NodeProcess, call: Call) -> Result<(), tonic::Status> {
    let mut c = node.event_log().await.unwrap();
    match call {
        Call::Append(r) => c.append(r).await.map(drop),
        Call::Batch(requests) => {
            c.append_batch(pb::AppendBatchRequest { requests, ..Default::default() }).await.map(drop)
        }
        Call::BatchView(requests, view) => c.append_batch(pb::AppendBatchRequest { requests, view }).await.map(drop),
        Call::Get(id) => c.get(pb::GetRequest { id: id.into() }).await.map(drop),
        Call::Read(r) => c.read(r).await.map(drop),
        Call::ListTopics(r) => planning(node).await.list_topics(r).await.map(drop),
        Call::GetTopic(id) => planning(node).await.get_topic(pb::GetTopicRequest { id: id.into() }).await.map(drop),
        Call::ListInfoItems(r) => exchange(node).await.list_info_items(r).await.map(drop),
        Call::InfoStatistics(r) => exchange(node).await.get_info_statistics(r).await.map(drop),
        Call::GetGroup(id) => {
            let mut progress = ProgressServiceClient::new(node.channel().await.unwrap());
            progress.get_group(pb::GetGroupRequest { group_id: id.into() }).await.map(drop)
        }
    }
}

async fn planning(node: &NodeProcess) -> PlanningServiceClient<tonic::transport::Channel> {
    PlanningServiceClient::new(node.channel().await.unwrap())
}

async fn exchange(node: &NodeProcess) -> ExchangeServiceClient<tonic::transport::Channel> {
    ExchangeServiceClient::new(node.channel().await.unwrap())
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

async fn events(node: &NodeProcess) -> u64 {
    node.admin().await.unwrap().status(pb::StatusRequest {}).await.unwrap().into_inner().events
}

fn cases() -> Vec<(&'static str, Call, Code, &'static str)> {
    use pb::TopicCategory::*;
    let ok = || append("up", Some(info("题目", "内容")));
    let with = |f: &dyn Fn(&mut pb::AppendRequest)| {
        let mut r = ok();
        f(&mut r);
        Call::Append(r)
    };
    let long = |n: usize| "长".repeat(n);
    vec![
        ("empty channel", Call::Append(append("", Some(info("t", "b")))), Code::InvalidArgument, "channel"),
        ("unknown channel", Call::Append(append("sideways", Some(info("t", "b")))), Code::InvalidArgument, "channel"),
        (
            "bad group id",
            Call::Append(append("group:Big Group", Some(info("t", "b")))),
            Code::InvalidArgument,
            "channel",
        ),
        ("to unknown node", Call::Append(append("to:629999", Some(info("t", "b")))), Code::InvalidArgument, "channel"),
        ("to itself", Call::Append(append("to:620722", Some(info("t", "b")))), Code::InvalidArgument, "channel"),
        ("county sends down", Call::Append(append("down", Some(info("t", "b")))), Code::FailedPrecondition, "channel"),
        (
            "comment on a topic not held here",
            Call::Append(append(
                "up",
                Some(Kind::TopicCommented(pb::TopicCommented { topic_id: A_UUID.into(), text: "意见".into() })),
            )),
            Code::FailedPrecondition,
            "payload.topic_commented.topic_id",
        ),
        (
            "feedback on an item not held here",
            Call::Append(append(
                "up",
                Some(Kind::InfoFeedback(pb::InfoFeedback { info_id: A_UUID.into(), text: "反馈".into() })),
            )),
            Code::FailedPrecondition,
            "payload.info_feedback.info_id",
        ),
        (
            "a lifecycle refusal inside a batch",
            Call::Batch(vec![
                append("up", Some(info("t", "b"))),
                append("up", Some(Kind::NoticeAcknowledged(pb::NoticeAcknowledged { notice_id: A_UUID.into() }))),
            ]),
            Code::FailedPrecondition,
            "requests[1].payload.notice_acknowledged.notice_id",
        ),
        (
            "topics: page size over the limit",
            Call::ListTopics(pb::ListTopicsRequest { page_size: 100_000, ..Default::default() }),
            Code::InvalidArgument,
            "page_size",
        ),
        (
            "topics: a page token from nowhere",
            Call::ListTopics(pb::ListTopicsRequest { page_token: "zz".into(), ..Default::default() }),
            Code::InvalidArgument,
            "page_token",
        ),
        (
            "topics: unknown level",
            Call::ListTopics(pb::ListTopicsRequest { level: 9, ..Default::default() }),
            Code::InvalidArgument,
            "level",
        ),
        (
            "topics: bad origin",
            Call::ListTopics(pb::ListTopicsRequest { origin: "6207".into(), ..Default::default() }),
            Code::InvalidArgument,
            "origin",
        ),
        ("topic: not an id", Call::GetTopic("nope"), Code::InvalidArgument, "id"),
        ("topic: not held", Call::GetTopic(A_UUID), Code::NotFound, ""),
        ("group: not held", Call::GetGroup("no-such-group"), Code::NotFound, ""),
        (
            "items: unknown status",
            Call::ListInfoItems(pb::ListInfoItemsRequest { status: 42, ..Default::default() }),
            Code::InvalidArgument,
            "status",
        ),
        (
            "statistics: end before start",
            Call::InfoStatistics(pb::GetInfoStatisticsRequest {
                start: ts(2_000),
                end: ts(1_000),
                node: String::new(),
            }),
            Code::InvalidArgument,
            "end",
        ),
        ("no payload", Call::Append(append("up", None)), Code::InvalidArgument, "payload"),
        (
            "year out of range",
            Call::Append(append("up", Some(topic(1999, Research, "t")))),
            Code::InvalidArgument,
            "payload.topic_proposed.year",
        ),
        (
            "category unset",
            Call::Append(append("up", Some(topic(2026, Unspecified, "t")))),
            Code::InvalidArgument,
            "payload.topic_proposed.category",
        ),
        (
            "empty title",
            Call::Append(append("up", Some(topic(2026, Research, "")))),
            Code::InvalidArgument,
            "payload.topic_proposed.title",
        ),
        (
            "title of 201 characters",
            Call::Append(append("up", Some(topic(2026, Research, &long(201))))),
            Code::InvalidArgument,
            "payload.topic_proposed.title",
        ),
        (
            "body too long",
            Call::Append(append("up", Some(info("t", &long(20_001))))),
            Code::InvalidArgument,
            "payload.info_reported.body",
        ),
        (
            "unknown group lead",
            Call::Append(append(
                "all",
                Some(Kind::GroupFormed(pb::GroupFormed {
                    group_id: "g1".into(),
                    title: "联动调研".into(),
                    lead: "629999".into(),
                    ..Default::default()
                })),
            )),
            Code::InvalidArgument,
            "payload.group_formed.lead",
        ),
        (
            "task without due date",
            Call::Append(append(
                "all",
                Some(Kind::TaskAssigned(pb::TaskAssigned {
                    group_id: "g1".into(),
                    task_id: "t1".into(),
                    title: "子课题".into(),
                    assignee: "620722".into(),
                    due: None,
                })),
            )),
            Code::InvalidArgument,
            "payload.task_assigned.due",
        ),
        (
            "percent over 100",
            Call::Append(append(
                "up",
                Some(Kind::ProgressReported(pb::ProgressReported {
                    group_id: "g1".into(),
                    task_id: "t1".into(),
                    percent: 101,
                    text: String::new(),
                })),
            )),
            Code::InvalidArgument,
            "payload.progress_reported.percent",
        ),
        (
            "link of one topic",
            Call::Append(append(
                "up",
                Some(Kind::TopicLinked(pb::TopicLinked { topic_ids: vec![A_UUID.into()], note: String::new() })),
            )),
            Code::InvalidArgument,
            "payload.topic_linked.topic_ids",
        ),
        (
            "adoption level unset",
            Call::Append(append(
                "up",
                Some(Kind::InfoAdopted(pb::InfoAdopted {
                    info_id: A_UUID.into(),
                    level: 0,
                    by: String::new(),
                    combined: false,
                    topology_version: 0,
                })),
            )),
            Code::InvalidArgument,
            "payload.info_adopted.level",
        ),
        (
            "comment on a bad id",
            Call::Append(append(
                "up",
                Some(Kind::TopicCommented(pb::TopicCommented { topic_id: "topic-1".into(), text: "好".into() })),
            )),
            Code::InvalidArgument,
            "payload.topic_commented.topic_id",
        ),
        ("bad ref", with(&|r| r.refs = vec!["nope".into()]), Code::InvalidArgument, "refs[0]"),
        ("too many refs", with(&|r| r.refs = vec![A_UUID.into(); 65]), Code::InvalidArgument, "refs"),
        ("key too long", with(&|r| r.idempotency_key = "k".repeat(129)), Code::InvalidArgument, "idempotency_key"),
        (
            "bad occurred_at",
            with(&|r| r.occurred_at = Some(prost_types::Timestamp { seconds: 0, nanos: -1 })),
            Code::InvalidArgument,
            "occurred_at",
        ),
        ("empty batch", Call::Batch(vec![]), Code::InvalidArgument, "requests"),
        ("batch over the limit", Call::Batch(vec![ok(); 1001]), Code::InvalidArgument, "requests"),
        ("batch with an unknown view", Call::BatchView(vec![ok()], 7), Code::InvalidArgument, "view"),
        (
            "batch with one bad request",
            Call::Batch(vec![ok(), append("up", Some(info("", "b")))]),
            Code::InvalidArgument,
            "requests[1].payload.info_reported.title",
        ),
        ("get a bad id", Call::Get("42"), Code::InvalidArgument, "id"),
        ("get an unknown id", Call::Get(A_UUID), Code::NotFound, ""),
        ("read without a range", Call::Read(pb::ReadRequest::default()), Code::InvalidArgument, "range"),
        (
            "negative page size",
            Call::Read(pb::ReadRequest {
                range: Some(pb::read_request::Range::FromPosition(1)),
                page_size: -1,
                ..Default::default()
            }),
            Code::InvalidArgument,
            "page_size",
        ),
        (
            "page size over the limit",
            Call::Read(pb::ReadRequest {
                range: Some(pb::read_request::Range::FromPosition(1)),
                page_size: 1001,
                ..Default::default()
            }),
            Code::InvalidArgument,
            "page_size",
        ),
        (
            "forged page token",
            Call::Read(pb::ReadRequest {
                range: Some(pb::read_request::Range::FromPosition(1)),
                page_token: "zz".into(),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "page_token",
        ),
        (
            "stream of a bad origin",
            Call::Read(pb::ReadRequest {
                range: Some(pb::read_request::Range::Stream(pb::StreamRange {
                    origin: "62".into(),
                    channel: "up".into(),
                    from_seq: 1,
                })),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "stream.origin",
        ),
        (
            "stream of a bad channel",
            Call::Read(pb::ReadRequest {
                range: Some(pb::read_request::Range::Stream(pb::StreamRange {
                    origin: "620722".into(),
                    channel: "sideways".into(),
                    from_seq: 1,
                })),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "stream.channel",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_code_and_field_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = &linkage_testkit::node_bin();
    let county = NodeProcess::start(bin, "620722", &topology("demo.toml"), &dir.path().join("county")).unwrap();
    // One good event and one keyed event first, so conflicts can be tested.
    let mut c = county.event_log().await.unwrap();
    let keyed = pb::AppendRequest { idempotency_key: "k-1".into(), ..append("up", Some(info("首条", "内容"))) };
    c.append(keyed.clone()).await.unwrap();
    let before = events(&county).await;

    let mut failures = Vec::new();
    for (name, request, code, field) in cases() {
        match call(&county, request).await {
            Ok(()) => failures.push(format!("{name}: accepted")),
            Err(status) => {
                if status.code() != code || field_of(&status) != field {
                    failures.push(format!(
                        "{name}: got {:?} field {:?} ({}), want {code:?} field {field:?}",
                        status.code(),
                        field_of(&status),
                        status.message()
                    ));
                }
            }
        }
    }
    // The same key with other content: ALREADY_EXISTS, alone and in a batch.
    let conflicting =
        pb::AppendRequest { idempotency_key: "k-1".into(), ..append("up", Some(info("别的", "内容"))) };
    let status = c.append(conflicting.clone()).await.unwrap_err();
    assert_eq!((status.code(), field_of(&status).as_str()), (Code::AlreadyExists, "idempotency_key"));
    let batch = vec![append("up", Some(info("好的", "内容"))), conflicting];
    let status = c.append_batch(pb::AppendBatchRequest { requests: batch, ..Default::default() }).await.unwrap_err();
    assert_eq!((status.code(), field_of(&status).as_str()), (Code::AlreadyExists, "requests[1].idempotency_key"));

    assert!(failures.is_empty(), "contract violations:\n{}", failures.join("\n"));
    assert_eq!(events(&county).await, before, "a rejected request wrote something");

    // The province has no level above it.
    let province = NodeProcess::start(bin, "620000", &topology("demo.toml"), &dir.path().join("province")).unwrap();
    let status = call(&province, Call::Append(append("up", Some(info("t", "b"))))).await.unwrap_err();
    assert_eq!((status.code(), field_of(&status).as_str()), (Code::FailedPrecondition, "channel"));
    assert_eq!(events(&province).await, 0);

    // The same key with the same content answers the first event.
    let again = c.append(keyed).await.unwrap().into_inner();
    assert!(again.deduplicated);
    assert_eq!(again.event.unwrap().position, 1);
    assert_eq!(events(&county).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_batch_answer_is_the_envelope_of_the_stored_event() {
    let dir = tempfile::tempdir().unwrap();
    let bin = &linkage_testkit::node_bin();
    let county = NodeProcess::start(bin, "620722", &topology("demo.toml"), &dir.path().join("county")).unwrap();
    let mut c = county.event_log().await.unwrap();
    let keyed = pb::AppendRequest {
        idempotency_key: "flush-1".into(),
        occurred_at: ts(1_700_000_000),
        refs: vec![A_UUID.into()],
        ..append("up", Some(info("上报", "内容")))
    };
    let requests = vec![append("up", Some(info("第一", "内容"))), keyed.clone()];
    let basic = pb::EventView::Basic.into();
    let first = c.append_batch(pb::AppendBatchRequest { requests, view: basic }).await.unwrap().into_inner();
    // A retry of the key alone: answered from the store, not the commit.
    let retry = pb::AppendBatchRequest { requests: vec![keyed], view: basic };
    let again = c.append_batch(retry).await.unwrap().into_inner();
    assert!(again.responses[0].deduplicated);
    let answers = first.responses.into_iter().chain(again.responses);
    let answered: Vec<_> = answers.map(|r| r.event.unwrap()).collect();
    assert_eq!(answered.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2, 2]);
    for answer in answered {
        let event = answer.event.unwrap();
        let full = c.get(pb::GetRequest { id: event.id.clone() }).await.unwrap().into_inner().event.unwrap();
        assert_eq!(full.position, answer.position);
        let full = full.event.unwrap();
        assert!(full.payload.is_some(), "Get returns the whole event");
        assert_eq!(full.refs.is_empty(), answer.position == 1, "the keyed event has a ref to leave out");
        let envelope = pb::Event {
            id: full.id,
            origin: full.origin,
            channel: full.channel,
            seq: full.seq,
            hlc: full.hlc,
            occurred_at: full.occurred_at,
            ..pb::Event::default()
        };
        assert_eq!(event, envelope);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_page_and_subscriptions_have_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let bin = &linkage_testkit::node_bin();
    let node = NodeProcess::start(bin, "620700", &topology("demo.toml"), &dir.path().join("city")).unwrap();
    let mut c = node.event_log().await.unwrap();

    // A subscriber from the start, while appends are still coming.
    let mut sub = node.event_log().await.unwrap();
    let mut stream = sub.subscribe(pb::SubscribeRequest { from_position: 0 }).await.unwrap().into_inner();
    let requests: Vec<_> = (0..250).map(|i| append("down", Some(info(&format!("通知 {i}"), "内容")))).collect();
    let first = c
        .append_batch(pb::AppendBatchRequest { requests: requests[..100].to_vec(), ..Default::default() })
        .await
        .unwrap();
    let first_id = first.into_inner().responses[0].event.clone().unwrap().event.unwrap().id;
    for r in &requests[100..] {
        c.append(r.clone()).await.unwrap();
    }
    for expected in 1..=250u64 {
        let item = stream.message().await.unwrap().unwrap().event.unwrap();
        assert_eq!(item.position, expected);
        assert_eq!(item.event.unwrap().seq, expected);
    }
    // Live after history: one more arrives on the same stream.
    c.append(append("up", Some(info("上报", "内容")))).await.unwrap();
    assert_eq!(stream.message().await.unwrap().unwrap().event.unwrap().position, 251);

    // Paging by position and by stream.
    for range in [
        pb::read_request::Range::FromPosition(1),
        pb::read_request::Range::Stream(pb::StreamRange {
            origin: "620700".into(),
            channel: "down".into(),
            from_seq: 1,
        }),
    ] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = c
                .read(pb::ReadRequest { range: Some(range.clone()), page_size: 100, page_token: token })
                .await
                .unwrap()
                .into_inner();
            pages += 1;
            seen.extend(page.events.into_iter().map(|e| e.event.unwrap().seq));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let down: Vec<u64> = (1..=250).collect();
        match range {
            pb::read_request::Range::Stream(_) => assert_eq!(seen, down),
            _ => assert_eq!(seen.len(), 251),
        }
        assert!(pages >= 3, "{pages} pages");
    }

    // Get by id.
    let got = c.get(pb::GetRequest { id: first_id.clone() }).await.unwrap().into_inner();
    assert_eq!(got.event.unwrap().event.unwrap().id, first_id);
}
