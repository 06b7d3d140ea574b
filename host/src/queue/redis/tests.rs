//! The Redis backend against a real `redis-server` on a free loopback port (one per test).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::queue::{DeadLetterFilter, DeliveryState, Events, Reason};

/// A `redis-server` without persistence, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/setup.sh)");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    async fn open(&self, max_bytes: u64) -> RedisQueue {
        let settings = RedisSettings {
            url: format!("redis://127.0.0.1:{}", self.port),
            prefix: "t:".into(),
        };
        RedisQueue::open(&settings, max_bytes, false).await.unwrap()
    }
}

fn job(data: u32) -> Job {
    let json = format!(r#"{{"name":"client_event","channel":"c","data":"{data}"}}"#);
    Job {
        enqueued_ms: now_ms(),
        events: Events {
            count: 1,
            json: json.into_bytes(),
        },
        delivery: None,
    }
}

fn all() -> Caps {
    Caps {
        max_events: 100,
        max_bytes: usize::MAX,
        first_always: true,
    }
}

fn data(jobs: &[StoredJob]) -> Vec<String> {
    jobs.iter()
        .flat_map(|j| j.job.events.to_array().as_array().unwrap().clone())
        .map(|e| e["data"].as_str().unwrap().to_owned())
        .collect()
}

async fn append(queue: &RedisQueue, lane: LaneId, n: u32, dedupe: Option<DedupeKey>) -> Appended {
    let jobs = vec![NewJob::new(lane, job(n))];
    queue.append(jobs, Vec::new(), dedupe).await.unwrap()
}

#[tokio::test]
async fn a_retried_delivery_keeps_its_state_at_the_head_and_the_counters_return_to_zero() {
    let server = Server::start();
    let queue = server.open(1 << 30).await;
    let id = queue
        .register(&WebhookKey::new("app", "hooks"))
        .await
        .unwrap();
    let lane = LaneId { queue: id, lane: 2 };
    for n in 0..4 {
        append(&queue, lane, n, None).await;
    }
    let read = queue
        .read_lane(
            lane,
            None,
            Caps {
                max_events: 3,
                ..all()
            },
        )
        .await
        .unwrap();
    assert_eq!(data(&read), ["0", "1", "2"]);
    let merged = Job {
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
            attempts: 2,
            first_attempt_ms: 1,
            last_attempt_ms: 1,
            next_due_ms: 2,
            last_error: "HTTP 503".into(),
        }),
        ..read[0].job.clone()
    };
    let taken: Vec<Taken> = read.iter().map(Taken::from).collect();
    queue.reschedule(taken, read[0].key, merged).await.unwrap();

    // Another node (a second connection) reads the lane from its start: the head carries the
    // delivery, the next job follows.
    let other = server.open(1 << 30).await;
    let head = other.read_lane(lane, None, all()).await.unwrap();
    assert_eq!(
        data(&head),
        ["0", "1", "2"],
        "an attempted delivery comes alone"
    );
    assert_eq!(head[0].job.delivery.as_ref().unwrap().attempts, 2);
    assert_eq!(head[0].key, read[0].key);
    let rest = other
        .read_lane(lane, Some(head[0].key.seq), all())
        .await
        .unwrap();
    assert_eq!(data(&rest), ["3"]);
    other.poll_once().await;
    assert_eq!(other.depth(id), 4);

    other
        .delivered(head.iter().map(Taken::from).collect())
        .await;
    other
        .delivered(rest.iter().map(Taken::from).collect())
        .await;
    assert!(queue.read_lane(lane, None, all()).await.unwrap().is_empty());
    queue.poll_once().await;
    assert_eq!(
        (queue.depth(id), queue.bytes()),
        (0, 0),
        "nothing left, nothing counted"
    );
}

#[tokio::test]
async fn past_max_bytes_an_append_is_refused_and_a_seen_body_is_not_stored_twice() {
    let server = Server::start();
    let queue = server.open(600).await;
    let id = queue
        .register(&WebhookKey::new("app", "hooks"))
        .await
        .unwrap();
    let lane = LaneId { queue: id, lane: 0 };
    let key = || Some(DedupeKey::new("app", b"body", Duration::from_secs(60)));
    assert_eq!(append(&queue, lane, 0, key()).await, Appended::Stored);
    assert_eq!(append(&queue, lane, 1, key()).await, Appended::Duplicate);
    let mut stored = 1;
    loop {
        let jobs = vec![NewJob::new(lane, job(stored))];
        match queue.append(jobs, Vec::new(), None).await {
            Ok(_) => stored += 1,
            Err(AppendError::Full { max_bytes }) => {
                assert_eq!(max_bytes, 600);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    queue.poll_once().await;
    assert!(queue.bytes() <= 600, "{}", queue.bytes());
    let read = queue.read_lane(lane, None, all()).await.unwrap();
    let expected: Vec<String> = (0..stored).map(|n| n.to_string()).collect();
    assert_eq!(
        data(&read),
        expected,
        "nothing of the duplicate or the refused append"
    );
}

#[tokio::test]
async fn dead_letters_are_listed_replayed_once_and_purged_and_a_retired_webhooks_jobs_move_there() {
    let server = Server::start();
    let queue = server.open(1 << 30).await;
    let webhook = WebhookKey::new("app", "hooks");
    let id = queue.register(&webhook).await.unwrap();
    let lane = LaneId { queue: id, lane: 1 };
    for n in 0..3 {
        append(&queue, lane, n, None).await;
    }
    assert_eq!(queue.retire(id).await.unwrap(), 3);
    append(&queue, lane, 9, None).await;
    assert!(queue.read_lane(lane, None, all()).await.unwrap().is_empty());
    let letters = queue
        .dead_letters(&DeadLetterFilter::default(), 0, 100)
        .await
        .unwrap();
    assert_eq!(letters.len(), 4, "the late arrival too");
    assert!(
        letters
            .iter()
            .all(|(_, l)| l.reason == Reason::WebhookRemoved)
    );
    assert_eq!(queue.dead_lettered(id), 4);

    queue.reactivate(id);
    let first = letters[0].0;
    let jobs = vec![NewJob::new(lane, job(0))];
    let replayed = queue.replay_letters(vec![(first, jobs.clone())]).await;
    assert_eq!(replayed.unwrap(), [first]);
    let again = queue.replay_letters(vec![(first, jobs)]).await.unwrap();
    assert!(again.is_empty(), "a dead letter is replayed once");
    assert_eq!(
        data(&queue.read_lane(lane, None, all()).await.unwrap()),
        ["0"]
    );
    let rest: Vec<u64> = letters[1..].iter().map(|(id, _)| *id).collect();
    assert_eq!(queue.purge(rest.clone()).await.unwrap(), 3);
    assert_eq!(queue.purge(rest).await.unwrap(), 0);
    assert_eq!(queue.dead_letter_by_id(first).await.unwrap(), None);
}
