//! What chat adapters keep across restarts ([`mosaic_chat::Memory`]), in
//! the `adapter_memory` table: the store is the one place the bot keeps
//! state, so an adapter needs no database of its own and replicas share it.

use mosaic_chat::{ChatError, ChatFuture, Memory, Platform};
use sqlx::Row;

use super::writes::Write;
use super::{Store, StoreError, now};

impl Store {
    /// The value an adapter of `platform` stored under `key`, if any.
    pub async fn recall(&self, platform: &str, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM adapter_memory WHERE platform = $1 AND key = $2")
            .bind(platform)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::engine("recall"))?;
        row.map(|row| row.try_get::<String, _>(0))
            .transpose()
            .map_err(StoreError::engine("recall"))
    }

    /// Stores `value` under `key` for `platform`, replacing any earlier one.
    pub async fn remember(&self, platform: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(Write::Remember {
            platform: platform.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
        })
        .await
        .map(drop)
    }
}

/// The statement of [`Store::remember`], on `connection`.
pub(super) async fn remember(
    connection: &mut sqlx::AnyConnection,
    platform: &str,
    key: &str,
    value: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO adapter_memory (platform, key, value, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (platform, key) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
    )
    .bind(platform)
    .bind(key)
    .bind(value)
    .bind(now())
    .execute(connection)
    .await
    .map_err(StoreError::engine("remember"))?;
    Ok(())
}

/// The adapter reads a store failure as a platform-side outage it can wait
/// out; the store's own words go with it.
fn unavailable(e: StoreError) -> ChatError {
    ChatError::Unavailable(format!("the bot's store: {e}"))
}

impl Memory for Store {
    fn recall<'a>(&'a self, platform: Platform, key: &'a str) -> ChatFuture<'a, Option<String>> {
        Box::pin(async move {
            Store::recall(self, platform.name(), key)
                .await
                .map_err(unavailable)
        })
    }

    fn remember<'a>(
        &'a self,
        platform: Platform,
        key: &'a str,
        value: &'a str,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            Store::remember(self, platform.name(), key, value)
                .await
                .map_err(unavailable)
        })
    }
}
