//! Paused webhooks in Redis: one hash, `<prefix>paused`, from queue id to who paused it and
//! when, read by every node (each polls it), so a pause holds across the cluster.

use super::{RedisQueue, corrupt};
use crate::queue::store::StoreError;
use crate::queue::{Paused, QueueId};

impl RedisQueue {
    fn paused_key(&self) -> String {
        format!("{}paused", self.inner.prefix)
    }

    /// The paused webhooks.
    pub async fn pauses(&self) -> Result<Vec<(QueueId, Paused)>, StoreError> {
        let all: Vec<(u32, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(self.paused_key())
            .query_async(&mut self.conn())
            .await
            .inspect_err(|e| self.failed(e))?;
        all.into_iter()
            .map(|(id, value)| {
                let paused = Paused::decode(&value).map_err(corrupt("pause"))?;
                Ok((QueueId(id), paused))
            })
            .collect()
    }

    /// Pauses (`Some`) or resumes (`None`) a webhook.
    pub async fn set_paused(
        &self,
        queue: QueueId,
        paused: Option<Paused>,
    ) -> Result<(), StoreError> {
        let command = match paused {
            Some(paused) => {
                let mut command = redis::cmd("HSET");
                command
                    .arg(self.paused_key())
                    .arg(queue.0)
                    .arg(paused.encode());
                command
            }
            None => {
                let mut command = redis::cmd("HDEL");
                command.arg(self.paused_key()).arg(queue.0);
                command
            }
        };
        let _: i64 = command
            .query_async(&mut self.conn())
            .await
            .inspect_err(|e| self.failed(e))?;
        Ok(())
    }
}
