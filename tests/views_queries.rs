//! The query services and the lifecycle rules on one real node: retries
//! keep their idempotency whatever the lifecycle did since, and paging
//! visits every record once, in order, whatever the filters.

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use linkage_proto::v1::progress_service_client::ProgressServiceClient;
use linkage_testkit::{topology, NodeProcess};

fn request(channel: &str, kind: Kind, key: &str) -> pb::AppendRequest {
    pb::AppendRequest {
        channel: channel.into(),
        payload: Some(pb::Payload { kind: Some(kind) }),
        idempotency_key: key.into(),
        ..Default::default()
    }
}

fn province() -> (tempfile::TempDir, NodeProcess) {
    let dir = tempfile::tempdir().unwrap();
    let node =
        NodeProcess::start(&linkage_testkit::node_bin(), "620000", &topology("demo.toml"), &dir.path().join("node"))
            .unwrap();
    (dir, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gets_its_first_answer_even_after_the_lifecycle_moved_on() {
    let (_dir, node) = province();
    let mut log = node.event_log().await.unwrap();
    let formed = Kind::GroupFormed(pb::GroupFormed {
        group_id: "620000-hexi-water".into(),
        title: "河西走廊节水农业联动调研组".into(),
        lead: "620000".into(),
        members: vec!["620700".into()],
        topic_ids: Vec::new(),
        rules: linkage_core::rules::GROUP_RULES,
    });
    let first = log.append(request("all", formed.clone(), "form-1")).await.unwrap().into_inner();
    // The reply was lost; the platform retries with the same key.
    let again = log.append(request("all", formed.clone(), "form-1")).await.unwrap().into_inner();
    assert!(again.deduplicated);
    assert_eq!(again.event.unwrap().event.unwrap().id, first.event.unwrap().event.unwrap().id);
    // A new formation of the same group is refused, naming the field.
    let status = log.append(request("all", formed, "form-2")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("payload.group_formed.group_id"), "{status:?}");

    // A comment retried after the plan went final still gets its first answer.
    let topic = Kind::TopicProposed(pb::TopicProposed {
        year: 2027,
        category: pb::TopicCategory::Research as i32,
        title: "河西走廊节水农业发展调研".into(),
        ..Default::default()
    });
    let topic = log.append(request("all", topic, "")).await.unwrap().into_inner().event.unwrap().event.unwrap();
    let comment =
        Kind::TopicCommented(pb::TopicCommented { topic_id: topic.id.clone(), text: "建议扩大范围".into() });
    let commented = log.append(request("all", comment.clone(), "comment-1")).await.unwrap().into_inner();
    let plan = Kind::PlanPublished(pb::PlanPublished {
        year: 2027,
        title: "2027年度协商计划".into(),
        topic_ids: vec![topic.id.clone()],
    });
    log.append(request("all", plan, "")).await.unwrap();
    let again = log.append(request("all", comment.clone(), "comment-1")).await.unwrap().into_inner();
    assert!(again.deduplicated);
    assert_eq!(again.event.unwrap().event.unwrap().id, commented.event.unwrap().event.unwrap().id);
    let status = log.append(request("all", comment, "comment-2")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_tasks_page_in_order_without_an_as_of() {
    let (_dir, node) = province();
    let mut log = node.event_log().await.unwrap();
    // "…water-2" sorts before "…water/" as text but after "…water" as an id.
    for group in ["620000-water", "620000-water-2"] {
        let formed = Kind::GroupFormed(pb::GroupFormed {
            group_id: group.into(),
            title: format!("{group} 调研组"),
            lead: "620000".into(),
            members: vec!["620700".into()],
            topic_ids: Vec::new(),
            rules: linkage_core::rules::GROUP_RULES,
        });
        log.append(request("all", formed, "")).await.unwrap();
        for task in ["t1", "t2"] {
            let assigned = Kind::TaskAssigned(pb::TaskAssigned {
                group_id: group.into(),
                task_id: task.into(),
                title: format!("子课题 {task}"),
                assignee: "620700".into(),
                due: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            });
            log.append(request(&format!("group:{group}"), assigned, "")).await.unwrap();
        }
    }
    let mut progress = ProgressServiceClient::new(node.channel().await.unwrap());
    let mut seen = Vec::new();
    let mut token = String::new();
    for _ in 0..10 {
        let page = progress
            .list_overdue_tasks(pb::ListOverdueTasksRequest { page_size: 1, page_token: token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        for t in page.tasks {
            seen.push(format!("{}/{}", t.group_id, t.task.unwrap().task_id));
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["620000-water/t1", "620000-water/t2", "620000-water-2/t1", "620000-water-2/t2"]);
}
