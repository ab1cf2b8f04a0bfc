//! Error answers of the simulated API.
//!
//! Every refusal the simulator can give is one `ApiError` variant; `IntoResponse` turns it into the
//! wire shape PiAPI (reportedly) uses: HTTP status plus `{"code": <status>, "message": ..., "data": null}`,
//! except `BadGateway`, which imitates Cloudflare's HTML page. `code()` is a stable machine code for logs.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused API request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Missing, empty or wrong `x-api-key`.
    #[error("Invalid API key")]
    Unauthorized,
    /// The request body failed validation.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown task, file or route.
    #[error("{0}")]
    NotFound(String),
    /// Balance below the price of the task (or the `insufficient_credits` fault).
    #[error("insufficient credits: balance ${balance_usd:.4} is below the task price ${price_usd:.4}")]
    InsufficientCredits { balance_usd: f64, price_usd: f64 },
    /// Too many tasks pending/processing for the plan.
    #[error("concurrency limit reached: {limit} tasks are already pending or processing")]
    ConcurrencyLimit { limit: u32, retry_after_secs: u32 },
    /// Injected rate limit.
    #[error("too many requests, retry later")]
    RateLimited { retry_after_secs: u32 },
    /// Injected server error.
    #[error("internal server error (simulated)")]
    Internal,
    /// Injected Cloudflare 502 (HTML body).
    #[error("bad gateway (simulated)")]
    BadGateway,
    /// An upload too large to keep.
    #[error("{0}")]
    PayloadTooLarge(String),
}

impl ApiError {
    /// Stable machine code of the variant.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::ConcurrencyLimit { .. } => "concurrency_limit",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal => "internal",
            Self::BadGateway => "bad_gateway",
            Self::PayloadTooLarge(_) => "payload_too_large",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InsufficientCredits { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::ConcurrencyLimit { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

const CLOUDFLARE_502: &str = "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>api.piapi.ai | 502: Bad gateway</title>\
<meta charset=\"UTF-8\" /></head>\n<body><div id=\"cf-wrapper\"><h1><span class=\"cf-error-type\">Bad gateway</span> \
<span class=\"cf-error-code\">Error code 502</span></h1>\n<p>The web server reported a bad gateway error.</p>\n\
<p>Cloudflare Ray ID: <strong>8f00000000000000</strong> &bull; Performance &amp; security by Cloudflare \
(simulated by Fluxdesk)</p></div></body>\n</html>\n";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, Self::BadGateway) {
            let mut resp = (status, CLOUDFLARE_502).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"));
            return resp;
        }
        let body = json!({ "code": status.as_u16(), "message": self.to_string(), "data": null });
        let mut resp = (status, axum::Json(body)).into_response();
        if let Self::ConcurrencyLimit { retry_after_secs, .. } | Self::RateLimited { retry_after_secs } = self
        {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        resp
    }
}
