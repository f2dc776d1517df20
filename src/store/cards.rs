//! The jobs found from their progress cards: a button pressed under a card names the card's
//! message, and the store says whose card it is, and whether its job was retried already.
//! Both work the same for a card a restarted bot resumed.

use sqlx::Row;

use mosaic_chat::Platform;

use super::jobs::{decode, job_columns};
use super::{FollowedJob, Store, StoreError};

impl Store {
    /// The job whose progress card is message `card_message_id` of `channel`, if any.
    pub async fn job_for_card(
        &self,
        platform: Platform,
        channel: &str,
        card_message_id: &str,
    ) -> Result<Option<FollowedJob>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM followed_jobs WHERE platform = $1 AND channel = $2 AND card_message_id = $3 \
             ORDER BY insertion DESC, job_id DESC LIMIT 1"
        ))
        .bind(platform.name())
        .bind(channel)
        .bind(card_message_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::engine("job_for_card"))?;
        row.map(|row| decode(&row, "job_for_card")).transpose()
    }

    /// The id of a followed job that retries `job_id`, if one was started.
    pub async fn retried_as(&self, job_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT job_id FROM followed_jobs WHERE retry_of = $1 \
             ORDER BY insertion DESC, job_id DESC LIMIT 1",
        )
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::engine("retried_as"))?;
        row.map(|row| row.try_get::<String, _>(0))
            .transpose()
            .map_err(StoreError::engine("retried_as"))
    }
}
