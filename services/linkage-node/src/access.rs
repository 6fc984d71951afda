//! Who may call what. Every request but health's names its caller by the
//! client certificate of its TLS connection; the node's allow-list
//! (`[access]` in its configuration, reloaded on SIGHUP) grants that
//! principal roles; each method needs one role. Checked on every request,
//! so a principal struck from the list is refused from its next request
//! on, also on a connection opened before.
//!
//! | caller | answer |
//! |---|---|
//! | no certificate | `UNAUTHENTICATED` |
//! | a certificate of another CA, or out of its dates | the TLS handshake fails |
//! | a principal not on this node's list | `PERMISSION_DENIED`, naming the node |
//! | a listed principal without the method's role | `PERMISSION_DENIED`, naming the role |

use linkage_pki::Principal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use tonic::Status;

/// What a principal may do on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A committee's own 智慧政协 platform: append, read, views, watch.
    Platform,
    /// Read, views and watch.
    Reader,
    /// AdminService and `/metrics`; reads too, and sees who appended.
    Operator,
}

impl Role {
    /// The name configurations use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Platform => "platform",
            Role::Reader => "reader",
            Role::Operator => "operator",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Role> {
        match name {
            "platform" => Ok(Role::Platform),
            "reader" => Ok(Role::Reader),
            "operator" => Ok(Role::Operator),
            other => anyhow::bail!("role {other:?} is not one of platform, reader, operator"),
        }
    }
}

/// What a method needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, for probes.
    Nobody,
    /// Any listed principal: server reflection.
    Listed,
    /// Reading: `reader`, `platform` or `operator`.
    Read,
    /// Appending: `platform`.
    Append,
    /// Administration: `operator`.
    Operate,
    /// A member's personal fields (`MemberService/GetMember`): `platform`
    /// or `operator`, and every call is audited.
    Personal,
}

impl Need {
    /// What the gRPC method at `path` (`/package.Service/Method`) needs.
    /// An unknown path needs the most: tonic answers `UNIMPLEMENTED` to
    /// whoever may get that far.
    pub fn of_path(path: &str) -> Need {
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        match service {
            "grpc.health.v1.Health" => Need::Nobody,
            "grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection" => Need::Listed,
            "linkage.v1.AdminService" => Need::Operate,
            "linkage.v1.EventLogService" if method == "Append" || method == "AppendBatch" => Need::Append,
            "linkage.v1.MemberService" if method == "GetMember" => Need::Personal,
            "linkage.v1.DocumentService" if method == "PutDocument" => Need::Append,
            "linkage.v1.EventLogService"
            | "linkage.v1.PlanningService"
            | "linkage.v1.ProgressService"
            | "linkage.v1.ExchangeService"
            | "linkage.v1.ResultsService"
            | "linkage.v1.MemberService"
            | "linkage.v1.ProposalService"
            | "linkage.v1.EvaluationService"
            | "linkage.v1.DocumentService" => Need::Read,
            _ => Need::Operate,
        }
    }

    /// Whether `roles` meet it, and if not the role to name.
    fn met_by(self, roles: &BTreeSet<Role>) -> Result<(), Role> {
        match self {
            Need::Nobody | Need::Listed => Ok(()),
            Need::Read if [Role::Reader, Role::Platform, Role::Operator].iter().any(|r| roles.contains(r)) => Ok(()),
            Need::Read => Err(Role::Reader),
            Need::Append if roles.contains(&Role::Platform) => Ok(()),
            Need::Append => Err(Role::Platform),
            Need::Operate if roles.contains(&Role::Operator) => Ok(()),
            Need::Operate => Err(Role::Operator),
            Need::Personal if roles.contains(&Role::Platform) || roles.contains(&Role::Operator) => Ok(()),
            Need::Personal => Err(Role::Platform),
        }
    }
}

/// The allow-list: principal → roles.
pub type AccessList = BTreeMap<Principal, BTreeSet<Role>>;

/// Who made a request, as handlers see it (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The principal its certificate names; `None` on a plaintext
    /// loopback node, where every caller is trusted.
    pub principal: Option<Principal>,
    /// The roles the node grants it.
    pub roles: BTreeSet<Role>,
}

impl Caller {
    /// How logs and the audit name it.
    pub fn name(&self) -> &str {
        self.principal.as_ref().map_or("plaintext-loopback", Principal::as_str)
    }

    /// Whether it holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller of a request, which the gate always sets.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&Caller> {
        request.extensions().get::<Caller>()
    }
}

/// How a listener authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// mTLS: principals from client certificates, checked against the list.
    Certificates,
    /// Plaintext on loopback, the operator's explicit opt-out: every caller
    /// holds every role.
    PlaintextLoopback,
}

/// The gate every request passes: mode, this node's code (for errors) and
/// the current allow-list.
pub struct Gate {
    mode: Mode,
    node: String,
    list: RwLock<Arc<AccessList>>,
}

impl Gate {
    /// A gate for node `node`.
    pub fn new(mode: Mode, node: String, list: AccessList) -> Arc<Gate> {
        Arc::new(Gate { mode, node, list: RwLock::new(Arc::new(list)) })
    }

    /// Replaces the allow-list (SIGHUP): from the next request on.
    pub fn replace(&self, list: AccessList) {
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
    }

    /// The principal a TLS connection's client certificate names, if any.
    pub fn principal_of(extensions: &http::Extensions) -> Option<Result<Principal, String>> {
        use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
        let info = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?;
        let certs = info.peer_certs()?;
        let leaf = certs.first()?;
        Some(Principal::of_certificate(leaf).map_err(|e| e.to_string()))
    }

    /// Decides a request for `need` from `principal` (None: no certificate).
    pub fn decide(&self, need: Need, principal: Option<Result<Principal, String>>) -> Result<Caller, Status> {
        if self.mode == Mode::PlaintextLoopback {
            let all = [Role::Platform, Role::Reader, Role::Operator].into_iter().collect();
            return Ok(Caller { principal: None, roles: all });
        }
        if need == Need::Nobody {
            return Ok(Caller { principal: principal.and_then(Result::ok), roles: BTreeSet::new() });
        }
        let principal = match principal {
            None => {
                return Err(Status::unauthenticated("no client certificate: present one signed by the province's CA"))
            }
            Some(Err(why)) => return Err(Status::unauthenticated(format!("client certificate: {why}"))),
            Some(Ok(principal)) => principal,
        };
        let list = self.list.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(roles) = list.get(&principal) else {
            return Err(Status::permission_denied(format!(
                "principal {principal} is not allowed on node {}",
                self.node
            )));
        };
        match need.met_by(roles) {
            Ok(()) => Ok(Caller { principal: Some(principal), roles: roles.clone() }),
            Err(role) => Err(Status::permission_denied(format!(
                "principal {principal} lacks the role `{}` this call needs on node {}",
                role.as_str(),
                self.node
            ))),
        }
    }
}

/// The tower layer that puts a [`Gate`] before every service.
#[derive(Clone)]
pub struct GateLayer {
    gate: Arc<Gate>,
}

impl GateLayer {
    /// Every request through `gate`.
    pub fn new(gate: Arc<Gate>) -> GateLayer {
        GateLayer { gate }
    }
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gated<S>;

    fn layer(&self, inner: S) -> Gated<S> {
        Gated { gate: self.gate.clone(), inner }
    }
}

/// A service behind the gate.
#[derive(Clone)]
pub struct Gated<S> {
    gate: Arc<Gate>,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Gated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<
        futures::future::MapOk<S::Future, fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body>>,
        futures::future::Ready<Result<http::Response<tonic::body::Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let need = Need::of_path(path);
        let principal = Gate::principal_of(request.extensions());
        match self.gate.decide(need, principal) {
            Ok(caller) => {
                if matches!(need, Need::Append | Need::Operate | Need::Personal) {
                    tracing::info!(target: "linkage::audit", principal = caller.name(), method = path, "call");
                }
                request.extensions_mut().insert(caller);
                use futures::TryFutureExt;
                let correct: fn(_) -> _ = corrected;
                futures::future::Either::Left(self.inner.call(request).map_ok(correct))
            }
            Err(status) => {
                tracing::info!(target: "linkage::audit", method = path, code = ?status.code(), reason = status.message(), "refused");
                metrics::counter!(REFUSED_CALLS, "code" => code_label(status.code())).increment(1);
                futures::future::Either::Right(futures::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// tonic answers a request it cannot decode `INTERNAL` and one over the
/// size limit `OUT_OF_RANGE`; to the client both are its own mistake:
/// `INVALID_ARGUMENT` and `RESOURCE_EXHAUSTED`, message kept. (Such an
/// answer comes before any handler runs, as headers only; our handlers
/// never say these words.)
fn corrected(mut response: http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> {
    correct_status(response.headers_mut());
    response.map(|body| tonic::body::Body::new(CorrectedTrailers { inner: body }))
}

/// Rewrites the status in `headers` (a response's, or its trailers) as
/// [`corrected`] says.
fn correct_status(headers: &mut http::HeaderMap) {
    const UNDECODABLE: [&str; 3] =
        ["failed to decode Protobuf message", "Unexpected EOF decoding stream", "protocol error: received message"];
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok());
    // Percent-encoded: spaces come as %20.
    let message = headers.get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or_default().replace("%20", " ");
    let fixed = match code {
        Some("13") if UNDECODABLE.iter().any(|m| message.starts_with(m)) => tonic::Code::InvalidArgument,
        Some("11") if message.starts_with("Error, decoded message length too large") => tonic::Code::ResourceExhausted,
        _ => return,
    };
    headers.insert("grpc-status", http::HeaderValue::from(fixed as i32));
}

/// A response body whose trailers (where tonic puts the status of a
/// unary call) pass through [`correct_status`].
struct CorrectedTrailers {
    inner: tonic::body::Body,
}

impl http_body::Body for CorrectedTrailers {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        let frame = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    correct_status(&mut trailers);
                    http_body::Frame::trailers(trailers)
                }
                Err(data) => data,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// Calls the gate refused, by gRPC code.
pub const REFUSED_CALLS: &str = "linkage_refused_calls_total";

fn code_label(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
        _ => "PERMISSION_DENIED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AccessList {
        let mut list = AccessList::new();
        list.insert("platform-1".parse().unwrap(), [Role::Platform].into());
        list.insert("reader-1".parse().unwrap(), [Role::Reader].into());
        list.insert("ops".parse().unwrap(), [Role::Operator].into());
        list
    }

    #[test]
    fn methods_need_their_roles() {
        let gate = Gate::new(Mode::Certificates, "620000".into(), list());
        let p = |name: &str| Some(Ok(name.parse().unwrap()));
        let append = Need::of_path("/linkage.v1.EventLogService/Append");
        let rebuild = Need::of_path("/linkage.v1.AdminService/RebuildViews");
        let read = Need::of_path("/linkage.v1.ExchangeService/ListInfoItems");
        assert_eq!(gate.decide(append, None).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert!(gate.decide(Need::of_path("/grpc.health.v1.Health/Check"), None).is_ok());
        assert!(gate.decide(append, p("platform-1")).is_ok());
        let refused = gate.decide(append, p("reader-1")).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(refused.message().contains("`platform`"), "{}", refused.message());
        assert!(gate.decide(rebuild, p("platform-1")).unwrap_err().message().contains("`operator`"));
        assert!(gate.decide(rebuild, p("ops")).is_ok());
        assert!(gate.decide(read, p("reader-1")).is_ok());
        assert!(gate.decide(read, p("ops")).is_ok());
        // A member's personal fields: the platform or an operator, never a reader.
        assert_eq!(Need::of_path("/linkage.v1.DocumentService/PutDocument"), Need::Append);
        assert_eq!(Need::of_path("/linkage.v1.DocumentService/GetDocument"), Need::Read);
        let personal = Need::of_path("/linkage.v1.MemberService/GetMember");
        assert!(gate.decide(personal, p("reader-1")).unwrap_err().message().contains("`platform`"));
        assert!(gate.decide(personal, p("platform-1")).is_ok() && gate.decide(personal, p("ops")).is_ok());
        assert!(gate.decide(Need::of_path("/linkage.v1.MemberService/ListMembers"), p("reader-1")).is_ok());
        let stranger = gate.decide(read, p("620700")).unwrap_err();
        assert!(stranger.message().contains("not allowed on node 620000"), "{}", stranger.message());
        gate.replace(AccessList::new());
        assert_eq!(gate.decide(append, p("platform-1")).unwrap_err().code(), tonic::Code::PermissionDenied);
        assert_eq!(Need::of_path("/x.Y/Z"), Need::Operate);
    }
}
