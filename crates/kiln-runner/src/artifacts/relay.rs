//! Artifacts through the server: an [`ObjectStore`] that sends every object to the Kiln
//! server an agent works for (`PUT /agent/v1/builds/{uuid}/artifacts/{bucket}/{key}`), which
//! writes it to its own artifact store. For agents that cannot reach the S3-compatible store
//! (docs/agents.md, "Artifacts through the server").
//!
//! Only writes exist: an upload needs nothing else. A multipart upload is one chunked PUT
//! whose body is fed part by part while it is in flight, so an object of any size is never
//! held whole; it ends cleanly only when [`MultipartUpload::complete`] says so, so an
//! abandoned upload reaches the server as a broken body and is not stored.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};

/// The header that carries the agent's session (`kiln_domain::agent::SESSION_HEADER`).
const SESSION_HEADER: &str = kiln_domain::agent::SESSION_HEADER;
/// What this store is called in `object_store` errors.
const IMPLEMENTER: &str = "KilnRelay";
/// Characters kept as they are in a path segment of the URL: RFC 3986's unreserved ones.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why the server did not store an object.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RelayError {
    /// The server answered with an error (`__type`, message).
    #[error("the Kiln server refused the artifact ({kind}): {message}")]
    Refused { kind: String, message: String },
    /// No answer, or not one from Kiln.
    #[error("the artifact could not be sent to the Kiln server: {0}")]
    Transport(String),
}

impl From<RelayError> for object_store::Error {
    fn from(err: RelayError) -> Self {
        object_store::Error::Generic {
            store: IMPLEMENTER,
            source: Box::new(err),
        }
    }
}

/// One bucket of a build's artifacts, written through the server.
#[derive(Debug, Clone)]
pub struct RelayStore {
    http: reqwest::Client,
    /// `{server}/agent/v1/builds/{uuid}/artifacts/{bucket}`.
    base: String,
    token: SecretString,
    session: String,
}

impl RelayStore {
    /// The store of `bucket` of build `build_uuid`, through `server` (its base URL).
    pub fn new(
        server: &str,
        token: SecretString,
        session: String,
        build_uuid: &str,
        bucket: &str,
    ) -> Result<Self, RelayError> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RelayError::Transport(describe(&e)))?;
        let base = format!(
            "{}{}/builds/{}/artifacts/{}",
            server.trim_end_matches('/'),
            kiln_domain::agent::AGENT_PATH,
            utf8_percent_encode(build_uuid, SEGMENT),
            utf8_percent_encode(bucket, SEGMENT),
        );
        Ok(Self {
            http,
            base,
            token,
            session,
        })
    }

    /// The URL of object `location`, each segment percent-encoded.
    fn url(&self, location: &Path) -> String {
        let mut url = self.base.clone();
        for part in location.parts() {
            url.push('/');
            url.extend(utf8_percent_encode(part.as_ref(), SEGMENT));
        }
        url
    }

    fn put_request(&self, location: &Path) -> reqwest::RequestBuilder {
        self.http
            .put(self.url(location))
            .bearer_auth(self.token.expose_secret())
            .header(SESSION_HEADER, &self.session)
            .header("content-type", "application/octet-stream")
    }
}

impl fmt::Display for RelayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KilnRelay({})", self.base)
    }
}

/// The server's answer: `{}` when the object is stored, else `{"__type","message"}`.
async fn answer(sent: Result<reqwest::Response, reqwest::Error>) -> Result<(), RelayError> {
    let response = sent.map_err(|e| RelayError::Transport(describe(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| RelayError::Transport(describe(&e)))?;
    if status.is_success() {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(rename = "__type")]
        kind: String,
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(error) => Err(RelayError::Refused {
            kind: error.kind,
            message: error.message,
        }),
        Err(_) => Err(RelayError::Transport(format!("HTTP {status}"))),
    }
}

fn put_result() -> PutResult {
    PutResult {
        e_tag: None,
        version: None,
        extensions: Default::default(),
    }
}

fn not_implemented(operation: &str) -> object_store::Error {
    object_store::Error::NotImplemented {
        operation: operation.to_owned(),
        implementer: IMPLEMENTER.to_owned(),
    }
}

#[async_trait]
impl ObjectStore for RelayStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if !matches!(opts.mode, PutMode::Overwrite) {
            return Err(not_implemented("put_opts with a conditional mode"));
        }
        let body = Bytes::from(payload);
        let sent = self.put_request(location).body(body).send().await;
        answer(sent).await?;
        Ok(put_result())
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let (pieces, received) = mpsc::unbounded::<Piece>();
        let request = self
            .put_request(location)
            .body(reqwest::Body::wrap_stream(body_stream(received)));
        let task = tokio::spawn(async move { answer(request.send().await).await });
        let abort = task.abort_handle();
        let response = async move {
            match task.await {
                Ok(answered) => answered,
                Err(_) => Err(RelayError::Transport("the upload was aborted".to_owned())),
            }
        }
        .boxed()
        .shared();
        Ok(Box::new(StreamingUpload {
            pieces: Some(pieces),
            response,
            abort,
        }))
    }

    async fn get_opts(
        &self,
        _location: &Path,
        _options: GetOptions,
    ) -> object_store::Result<GetResult> {
        Err(not_implemented("get_opts"))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations
            .map(|_| Err(not_implemented("delete_stream")))
            .boxed()
    }

    fn list(&self, _prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        futures::stream::once(async { Err(not_implemented("list")) }).boxed()
    }

    async fn list_with_delimiter(
        &self,
        _prefix: Option<&Path>,
    ) -> object_store::Result<ListResult> {
        Err(not_implemented("list_with_delimiter"))
    }

    async fn copy_opts(
        &self,
        _from: &Path,
        _to: &Path,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(not_implemented("copy_opts"))
    }
}

/// What the multipart upload feeds the body with, in the order of `put_part` calls.
enum Piece {
    /// Bytes of the object; `sent` fires once the body has handed them to the connection.
    Data {
        bytes: Bytes,
        sent: Option<oneshot::Sender<()>>,
    },
    /// The object is whole: the body ends cleanly.
    End,
}

/// The request body: the pieces as they come. Without [`Piece::End`] the body ends with an
/// error, so that the server never takes a cut-off object for a whole one.
fn body_stream(
    received: mpsc::UnboundedReceiver<Piece>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(Some(received), |state| async move {
        let mut received = state?;
        match received.next().await {
            Some(Piece::Data { bytes, sent }) => {
                if let Some(sent) = sent {
                    let _ = sent.send(());
                }
                Some((Ok(bytes), Some(received)))
            }
            Some(Piece::End) => None,
            None => Some((
                Err(std::io::Error::other("the artifact upload was abandoned")),
                None,
            )),
        }
    })
}

/// A multipart upload as one streaming PUT.
struct StreamingUpload {
    /// `None` once the upload is completed or aborted.
    pieces: Option<mpsc::UnboundedSender<Piece>>,
    /// The server's answer (the task that sends the request).
    response: Shared<BoxFuture<'static, Result<(), RelayError>>>,
    abort: tokio::task::AbortHandle,
}

impl fmt::Debug for StreamingUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingUpload")
            .field("open", &self.pieces.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MultipartUpload for StreamingUpload {
    /// Queues the part behind the previous ones at once (the order of calls is the order of
    /// the bytes); the returned future ends when the body has sent it, which is what bounds
    /// how much the writer holds in memory.
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let (sent, delivered) = oneshot::channel();
        // Empty chunks are left out: an empty chunk may read as the end of a chunked body.
        let mut chunks: Vec<Bytes> = data.into_iter().filter(|b| !b.is_empty()).collect();
        let queued = match (chunks.pop(), &self.pieces) {
            (_, None) => false,
            (None, Some(_)) => sent.send(()).is_ok(),
            (Some(last), Some(pieces)) => chunks
                .into_iter()
                .map(|bytes| Piece::Data { bytes, sent: None })
                .chain(std::iter::once(Piece::Data {
                    bytes: last,
                    sent: Some(sent),
                }))
                .all(|piece| pieces.unbounded_send(piece).is_ok()),
        };
        let response = self.response.clone();
        async move {
            if queued && delivered.await.is_ok() {
                return Ok(());
            }
            // The body was dropped: the request ended early, and its answer says why.
            match response.await {
                Err(err) => Err(err.into()),
                Ok(()) => Err(RelayError::Transport(
                    "the server answered before the artifact was sent".to_owned(),
                )
                .into()),
            }
        }
        .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let Some(pieces) = self.pieces.take() else {
            return Err(RelayError::Transport("the upload is already finished".to_owned()).into());
        };
        let _ = pieces.unbounded_send(Piece::End);
        drop(pieces);
        self.response.clone().await?;
        Ok(put_result())
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        // Dropping the sender breaks the body; stopping the task closes the connection.
        self.pieces = None;
        self.abort.abort();
        Ok(())
    }
}

impl Drop for StreamingUpload {
    fn drop(&mut self) {
        if self.pieces.is_some() {
            self.abort.abort();
        }
    }
}

/// A transport error with its causes (reqwest's own message says only "error sending
/// request"). The agent's calls describe theirs the same way.
pub fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
