//! `--json`: responses in the proto3 JSON mapping, through prost-reflect and
//! the descriptor set linkage-proto embeds, so that field names, enums
//! (`"TOPIC_STATUS_LINKED"`), 64-bit integers (strings) and timestamps
//! (RFC 3339) come out as every other proto3 JSON tool writes them.

use anyhow::Context;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use std::sync::OnceLock;

/// Every linkage message, from `linkage_proto::FILE_DESCRIPTOR_SET`.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(linkage_proto::FILE_DESCRIPTOR_SET).expect("linkage-proto embeds a valid descriptor set")
    })
}

/// The message as a JSON value; `full_name` is its protobuf name, e.g.
/// `linkage.v1.ListTopicsResponse`.
pub fn to_value<M: prost::Message>(message: &M, full_name: &str) -> anyhow::Result<serde_json::Value> {
    let descriptor = pool()
        .get_message_by_name(full_name)
        .with_context(|| format!("{full_name} is not in linkage-proto's descriptor set"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .with_context(|| format!("re-decoding {full_name}"))?;
    let options = SerializeOptions::new();
    Ok(dynamic.serialize_with_options(serde_json::value::Serializer, &options)?)
}

/// Prints the message as one pretty JSON document.
pub fn print<M: prost::Message>(message: &M, full_name: &str) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&to_value(message, full_name)?)?);
    Ok(())
}

/// Prints the message as one JSON line (for streams).
pub fn print_line<M: prost::Message>(message: &M, full_name: &str) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(&to_value(message, full_name)?)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkage_core::pb;

    #[test]
    fn proto3_json_mapping() {
        let response = pb::ListTopicsResponse {
            topics: vec![pb::Topic {
                id: "t1".into(),
                origin: "620722".into(),
                hlc: 1 << 40,
                year: 2027,
                category: pb::TopicCategory::Research as i32,
                title: "节水农业调研".into(),
                status: pb::TopicStatus::Linked as i32,
                known: true,
                ..Default::default()
            }],
            next_page_token: String::new(),
        };
        let v = to_value(&response, "linkage.v1.ListTopicsResponse").unwrap();
        let topic = &v["topics"][0];
        assert_eq!(topic["title"], "节水农业调研");
        assert_eq!(topic["category"], "TOPIC_CATEGORY_RESEARCH");
        assert_eq!(topic["status"], "TOPIC_STATUS_LINKED");
        assert_eq!(topic["hlc"], "1099511627776", "uint64 as a string");
        assert_eq!(topic["year"], 2027);
        assert!(v.get("nextPageToken").is_none(), "defaults are left out");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let task = pb::Task {
            task_id: "minle".into(),
            due: Some(prost_types::Timestamp { seconds: 1_806_451_200, nanos: 0 }),
            ..Default::default()
        };
        let v = to_value(&task, "linkage.v1.Task").unwrap();
        assert_eq!(v["taskId"], "minle");
        assert_eq!(v["due"], "2027-03-31T00:00:00Z");
    }

    #[test]
    fn unknown_names_are_an_error() {
        assert!(to_value(&pb::Topic::default(), "linkage.v1.NoSuchThing").is_err());
    }
}
