//! The queue against a real store in a temporary directory.

use std::time::Duration;

use super::*;
use crate::json;

fn settings(dir: &std::path::Path) -> QueueSettings {
    QueueSettings::in_dir(dir.join("queue"))
}

fn event(channel: &str, n: u32) -> Event {
    let text = format!(r#"{{"name":"client_event","channel":"{channel}","data":"{n}"}}"#);
    Event::from_value(json::parse(text.as_bytes()).unwrap()).unwrap()
}

fn job(channel: &str, n: u32) -> Job {
    Job {
        enqueued_ms: now_ms(),
        events: Events::join(&[event(channel, n)]),
        delivery: None,
    }
}

/// A queue in `dir` with one webhook registered.
async fn open_with_webhook(dir: &std::path::Path) -> (Queue, QueueId) {
    let queue = Queue::open(&settings(dir)).await.unwrap();
    let id = queue
        .register(&WebhookKey::new("app", "hooks"))
        .await
        .unwrap();
    (queue, id)
}

fn embedded(queue: &Queue) -> &Embedded {
    let Open::Embedded(store) = &queue.backend else {
        panic!("these tests open the embedded store")
    };
    store
}

/// Up to `max_events`, whatever their size.
fn up_to(max_events: usize) -> Caps {
    Caps {
        max_events,
        max_bytes: usize::MAX,
        first_always: true,
    }
}

fn lane(queue: QueueId, lane: u16) -> LaneId {
    LaneId { queue, lane }
}

/// The `data` of every event of the jobs, in order.
fn data(jobs: &[StoredJob]) -> Vec<String> {
    jobs.iter()
        .flat_map(|j| {
            let array = j.job.events.to_array();
            array
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["data"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn append_one(queue: &Queue, lane: LaneId, job: Job) -> Result<Appended, AppendError> {
    queue
        .append(vec![NewJob::new(lane, job)], Vec::new(), None)
        .await
}

#[tokio::test]
async fn jobs_come_back_in_order_survive_a_reopen_and_go_once_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, id) = open_with_webhook(dir.path()).await;
    for n in 0..5 {
        append_one(&queue, lane(id, 3), job("c", n)).await.unwrap();
    }
    append_one(&queue, lane(id, 1), job("other", 9))
        .await
        .unwrap();
    assert_eq!(queue.depth(id), 6);
    let read = queue.read_lane(lane(id, 3), None, up_to(3)).await.unwrap();
    assert_eq!(data(&read), ["0", "1", "2"], "at most max_events, in order");
    queue
        .delivered(read.iter().map(Taken::from).collect())
        .await;
    let after = Some(read[2].key.seq);
    assert_eq!(
        data(
            &queue
                .read_lane(lane(id, 3), after, up_to(10))
                .await
                .unwrap()
        ),
        ["3", "4"]
    );
    queue.close().await;

    let queue = Queue::open(&settings(dir.path())).await.unwrap();
    assert_eq!(queue.depth(id), 3, "the deliveries were persisted at close");
    let waiting = queue.read_lane(lane(id, 3), None, up_to(10)).await.unwrap();
    assert_eq!(data(&waiting), ["3", "4"]);
    let stored = queue.stored_webhooks();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, WebhookKey::new("app", "hooks"));
    assert_eq!(stored[0].2, [1, 3], "lanes holding jobs");
    assert_eq!(
        queue
            .register(&WebhookKey::new("app", "hooks"))
            .await
            .unwrap(),
        id
    );
    // Sequence numbers go on after the reopen: a new job sorts after the old ones (in the
    // store, and as the lane takes it).
    append_one(&queue, lane(id, 3), job("c", 5)).await.unwrap();
    let after = waiting.last().map(|j| j.key.seq);
    let next = queue
        .read_lane(lane(id, 3), after, up_to(10))
        .await
        .unwrap();
    assert_eq!(data(&next), ["5"]);
    assert!(next[0].key.seq > waiting[1].key.seq);
    queue.close().await;
}

#[tokio::test]
async fn concurrent_appends_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, id) = open_with_webhook(dir.path()).await;
    let (before_appends, before_syncs) = embedded(&queue).appends_and_syncs();
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move { append_one(&queue, lane(id, 0), job("c", n)).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), Appended::Stored);
    }
    let (appends, syncs) = embedded(&queue).appends_and_syncs();
    assert_eq!(appends - before_appends, 200);
    assert!(
        syncs - before_syncs < 200,
        "200 concurrent appends took {} syncs",
        syncs - before_syncs
    );
    queue.close().await;
}

#[tokio::test]
async fn past_max_bytes_an_append_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path());
    settings.max_bytes = 2000;
    let queue = Queue::open(&settings).await.unwrap();
    let id = queue
        .register(&WebhookKey::new("app", "hooks"))
        .await
        .unwrap();
    let mut stored = 0;
    loop {
        let jobs = (0..3)
            .map(|l| NewJob::new(lane(id, l), job("c", stored)))
            .collect();
        match queue.append(jobs, Vec::new(), None).await {
            Ok(_) => stored += 1,
            Err(AppendError::Full { max_bytes }) => {
                assert_eq!(max_bytes, 2000);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(stored > 0);
    assert_eq!(
        queue.depth(id),
        u64::from(stored) * 3,
        "nothing of the refused append"
    );
    assert!(queue.bytes() <= 2000);
    queue.close().await;
}

#[tokio::test]
async fn a_body_seen_within_the_window_is_not_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, id) = open_with_webhook(dir.path()).await;
    let key = |app: &str, body: &[u8]| Some(DedupeKey::new(app, body, Duration::from_secs(60)));
    let append = |dedupe| {
        let queue = queue.clone();
        async move {
            let jobs = vec![NewJob::new(lane(id, 0), job("c", 1))];
            queue.append(jobs, Vec::new(), dedupe).await.unwrap()
        }
    };
    assert_eq!(append(key("app", b"body")).await, Appended::Stored);
    assert_eq!(append(key("app", b"body")).await, Appended::Duplicate);
    assert_eq!(append(key("other-app", b"body")).await, Appended::Stored);
    assert_eq!(append(None).await, Appended::Stored, "without dedupe");
    let expired = Some(DedupeKey::new("app", b"short", Duration::from_millis(1)));
    assert_eq!(append(expired).await, Appended::Stored);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = Some(DedupeKey::new("app", b"short", Duration::from_millis(1)));
    assert_eq!(append(again).await, Appended::Stored, "the window passed");
    assert_eq!(queue.depth(id), 5);
    queue.close().await;
}

#[tokio::test]
async fn a_failed_delivery_becomes_one_fixed_job_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, id) = open_with_webhook(dir.path()).await;
    for n in 0..4 {
        append_one(&queue, lane(id, 0), job("c", n)).await.unwrap();
    }
    let read = queue.read_lane(lane(id, 0), None, up_to(3)).await.unwrap();
    let merged = Job {
        enqueued_ms: read[0].job.enqueued_ms,
        events: Events {
            count: 3,
            json: read
                .iter()
                .map(|j| j.job.events.json.clone())
                .collect::<Vec<_>>()
                .join(&b","[..]),
        },
        delivery: Some(DeliveryState {
            id: "d".into(),
            attempts: 1,
            first_attempt_ms: 1,
            last_attempt_ms: 1,
            next_due_ms: 2,
            last_error: "HTTP 503".into(),
        }),
    };
    let taken = read.iter().map(Taken::from).collect();
    queue.reschedule(taken, read[0].key, merged).await.unwrap();
    let head = queue.read_lane(lane(id, 0), None, up_to(10)).await.unwrap();
    assert_eq!(head.len(), 1, "an attempted delivery comes alone");
    assert_eq!(data(&head), ["0", "1", "2"]);
    assert_eq!(head[0].job.delivery.as_ref().unwrap().attempts, 1);
    let rest = queue
        .read_lane(lane(id, 0), Some(head[0].key.seq), up_to(10))
        .await
        .unwrap();
    assert_eq!(data(&rest), ["3"]);
    assert_eq!(queue.depth(id), 4);
    queue.close().await;
}

#[tokio::test]
async fn dead_letters_are_kept_replayed_to_current_lanes_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&settings(dir.path())).await.unwrap();
    let webhook = WebhookKey::new("app", "hooks");
    let id = queue.register(&webhook).await.unwrap();
    let jobs = vec![
        NewJob::new(
            lane(id, 0),
            Job {
                enqueued_ms: 1,
                events: Events::join(&[event("a", 1), event("b", 2), event("a", 3)]),
                delivery: None,
            },
        ),
        // Beyond the 4 lanes the replay uses.
        NewJob::new(lane(id, 7), job("z", 4)),
    ];
    queue.append(jobs, Vec::new(), None).await.unwrap();
    let read = queue.read_lane(lane(id, 0), None, up_to(10)).await.unwrap();
    let letter = DeadLetter {
        webhook: webhook.clone(),
        events: read[0].job.events.clone(),
        reason: Reason::Rejected,
        detail: "receiver answered HTTP 400".into(),
        enqueued_ms: 1,
        dead_lettered_ms: 2,
        delivery: None,
    };
    let dead = queue
        .dead_letter(read.iter().map(Taken::from).collect(), letter.clone())
        .await
        .unwrap();
    assert_eq!(queue.dead_letter_by_id(dead).await.unwrap(), Some(letter));
    assert_eq!(queue.depth(id), 1);
    let rejected = DeadLetterFilter {
        reason: Some(Reason::Rejected),
        ..DeadLetterFilter::default()
    };
    assert_eq!(
        queue.select(&Selection::Matching(rejected)).await.unwrap(),
        [dead]
    );

    // Replayed with 4 lanes: each event to its channel's lane, in order.
    let report = queue.replay(&[dead, 999], |_| Some(4)).await.unwrap();
    assert_eq!(report.replayed, [dead]);
    assert_eq!(report.skipped[0].id, 999);
    let (lane_a, lane_b) = (lane_of("a", 4), lane_of("b", 4));
    let a = queue
        .read_lane(lane(id, lane_a), None, up_to(10))
        .await
        .unwrap();
    let b = queue
        .read_lane(lane(id, lane_b), None, up_to(10))
        .await
        .unwrap();
    if lane_a == lane_b {
        assert_eq!(data(&a), ["1", "2", "3"]);
    } else {
        assert_eq!(data(&a), ["1", "3"]);
        assert_eq!(data(&b), ["2"]);
    }
    assert_eq!(queue.dead_letter_by_id(dead).await.unwrap(), None);
    let again = queue.replay(&[dead], |_| Some(4)).await.unwrap();
    assert!(again.replayed.is_empty(), "a dead letter is replayed once");

    // Not configured: left in place.
    let stray = queue
        .dead_letter(
            Vec::new(),
            DeadLetter {
                webhook: WebhookKey::new("app", "gone"),
                events: Events::join(&[event("x", 5)]),
                reason: Reason::Expired,
                detail: String::new(),
                enqueued_ms: 1,
                dead_lettered_ms: 1,
                delivery: None,
            },
        )
        .await
        .unwrap();
    let report = queue.replay(&[stray], |_| None).await.unwrap();
    assert!(report.skipped[0].reason.contains("app/gone"), "{report:?}");
    assert_eq!(queue.purge(vec![stray, 12345]).await.unwrap(), 1);
    assert_eq!(queue.dead_letter_by_id(stray).await.unwrap(), None);
    queue.close().await;
}

#[tokio::test]
async fn a_retired_webhook_gets_its_jobs_and_late_arrivals_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&settings(dir.path())).await.unwrap();
    let webhook = WebhookKey::new("app", "old");
    let id = queue.register(&webhook).await.unwrap();
    for n in 0..3 {
        append_one(&queue, lane(id, n as u16), job("c", n))
            .await
            .unwrap();
    }
    assert_eq!(queue.retire(id).await.unwrap(), 3);
    assert_eq!(queue.depth(id), 0);
    // A request routed on the old config still sends one.
    append_one(&queue, lane(id, 0), job("c", 9)).await.unwrap();
    assert_eq!(queue.depth(id), 0);
    let all = queue
        .dead_letters(&DeadLetterFilter::default(), 0, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(
        all.iter()
            .all(|(_, l)| l.reason == Reason::WebhookRemoved && l.webhook == webhook)
    );
    queue.reactivate(id);
    append_one(&queue, lane(id, 0), job("c", 10)).await.unwrap();
    assert_eq!(queue.depth(id), 1, "configured again: kept");
    queue.close().await;
}

#[tokio::test]
async fn a_second_process_cannot_open_a_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&settings(dir.path())).await.unwrap();
    let err = Queue::open(&settings(dir.path())).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    queue.close().await;
    drop(queue);
    Queue::open(&settings(dir.path()))
        .await
        .expect("free again once closed");
}
