//! slack-morphism's Web API client runs over this connector: the reqwest
//! client already in the tree (rustls, no second hyper stack), pointed at
//! Slack's API URL or a fake's. It answers as slack-morphism's own hyper
//! connector does: an `ok:false` body becomes an `ApiError` with Slack's
//! code, a 429 a `RateLimitError` with its `Retry-After`, any other status
//! an `HttpError`.
//!
//! Uploads and OAuth (`http_post_uri_multipart_form`, `http_post_uri_binary`,
//! `http_get_with_client_secret`) are not used by the bot and answer an error.

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use slack_morphism::errors::{
    SlackClientApiError, SlackClientError, SlackClientHttpError, SlackClientHttpProtocolError,
    SlackClientSystemError, SlackRateLimitError, map_serde_error,
};
use slack_morphism::multipart_form::FileMultipartData;
use slack_morphism::{
    ClientResult, SlackApiToken, SlackClientApiCallContext, SlackClientHttpConnector,
    SlackClientId, SlackClientSecret, SlackEnvelopeMessage,
};
use url::Url;

/// How long one call may take before Slack counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The Web API over reqwest.
#[derive(Clone)]
pub struct ReqwestConnector {
    http: reqwest::Client,
    /// `https://slack.com/api/`, always ending in a slash.
    base: Url,
}

impl ReqwestConnector {
    /// A connector for the Web API at `base` (`https://slack.com/api`).
    pub fn new(base: &str) -> Result<ReqwestConnector, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let base = Url::parse(&format!("{}/", base.trim_end_matches('/')))
            .map_err(|e| format!("the Slack API URL {base:?} is not a URL: {e}"))?;
        Ok(ReqwestConnector { http, base })
    }

    fn authorized(builder: RequestBuilder, token: Option<&SlackApiToken>) -> RequestBuilder {
        match token {
            Some(token) => builder.bearer_auth(&token.token_value.0),
            None => builder,
        }
    }
}

fn unsupported<'a, RS: Send + 'a>(what: &str) -> BoxFuture<'a, ClientResult<RS>> {
    let error = SlackClientError::SystemError(
        SlackClientSystemError::new().with_message(format!("{what} is not used by mosaic-bot")),
    );
    futures_util::future::ready(Err(error)).boxed()
}

/// Sends `request` and reads Slack's answer into `RS`.
async fn send<RS: DeserializeOwned>(request: RequestBuilder) -> ClientResult<RS> {
    let response = request.send().await.map_err(|e| {
        // The URL may hold a ticket (Socket Mode) or a response URL: not logged.
        SlackClientError::HttpProtocolError(
            SlackClientHttpProtocolError::new().with_cause(Box::new(e.without_url())),
        )
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)));
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = response.text().await.map_err(|e| {
        SlackClientError::HttpProtocolError(
            SlackClientHttpProtocolError::new().with_cause(Box::new(e.without_url())),
        )
    })?;
    match status {
        StatusCode::OK if is_json => {
            let envelope: SlackEnvelopeMessage =
                serde_json::from_str(&body).map_err(|e| map_serde_error(e, Some(&body)))?;
            let errors = envelope.errors_as_strings();
            if let Some(code) = envelope.error {
                return Err(SlackClientError::ApiError(
                    SlackClientApiError::new(code)
                        .opt_errors(errors)
                        .opt_warnings(envelope.warnings)
                        .with_http_response_body(body),
                ));
            }
            serde_json::from_str(&body).map_err(|e| map_serde_error(e, Some(&body)))
        }
        // A `response_url` answers `ok` as text.
        StatusCode::OK | StatusCode::NO_CONTENT => {
            serde_json::from_str("{}").map_err(|e| map_serde_error(e, Some("{}")))
        }
        StatusCode::TOO_MANY_REQUESTS => Err(SlackClientError::RateLimitError(
            SlackRateLimitError::new()
                .opt_retry_after(retry_after)
                .with_http_response_body(body),
        )),
        status => Err(SlackClientError::HttpError(
            SlackClientHttpError::new(status).with_http_response_body(body),
        )),
    }
}

impl SlackClientHttpConnector for ReqwestConnector {
    fn http_get_uri<'a, RS>(
        &'a self,
        full_uri: Url,
        context: SlackClientApiCallContext<'a>,
    ) -> BoxFuture<'a, ClientResult<RS>>
    where
        RS: for<'de> serde::de::Deserialize<'de> + Send + 'a,
    {
        let request = Self::authorized(self.http.get(full_uri), context.token);
        send(request).boxed()
    }

    fn http_get_with_client_secret<'a, RS>(
        &'a self,
        _full_uri: Url,
        _client_id: &'a SlackClientId,
        _client_secret: &'a SlackClientSecret,
    ) -> BoxFuture<'a, ClientResult<RS>>
    where
        RS: for<'de> serde::de::Deserialize<'de> + Send + 'a,
    {
        unsupported("OAuth")
    }

    fn http_post_uri<'a, RQ, RS>(
        &'a self,
        full_uri: Url,
        request_body: &'a RQ,
        context: SlackClientApiCallContext<'a>,
    ) -> BoxFuture<'a, ClientResult<RS>>
    where
        RQ: serde::ser::Serialize + Send + Sync,
        RS: for<'de> serde::de::Deserialize<'de> + Send + 'a,
    {
        let request = Self::authorized(self.http.post(full_uri), context.token).json(request_body);
        send(request).boxed()
    }

    fn http_post_uri_multipart_form<'a, 'p, RS, PT, TS>(
        &'a self,
        _full_uri: Url,
        _file: Option<FileMultipartData<'p>>,
        _params: &'p PT,
        _context: SlackClientApiCallContext<'a>,
    ) -> BoxFuture<'a, ClientResult<RS>>
    where
        RS: for<'de> serde::de::Deserialize<'de> + Send + 'a,
        PT: std::iter::IntoIterator<Item = (&'p str, Option<TS>)> + Clone,
        TS: AsRef<str> + 'p + Send,
    {
        unsupported("uploading files")
    }

    fn http_post_uri_binary<'a, 'p, RS>(
        &'a self,
        _full_uri: Url,
        _content_type: String,
        _data: &'a [u8],
        _context: SlackClientApiCallContext<'a>,
    ) -> BoxFuture<'a, ClientResult<RS>>
    where
        RS: for<'de> serde::de::Deserialize<'de> + Send + 'a,
    {
        unsupported("uploading files")
    }

    /// Methods under our base URL (Slack's, or a fake's), not the crate's fixed one.
    fn create_method_uri_path(&self, method_relative_uri: &str) -> ClientResult<Url> {
        Ok(self.base.join(method_relative_uri)?)
    }
}
