//! The console over plain HTTP, as a script (or an attacker) drives it: exchanges that do not
//! follow redirects, the sign-in form's fields and cookie, and signing in.

use super::{Account, KilnServer};

/// One HTTP exchange without following redirects: (status, headers, body).
pub fn exchange(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut response = if method == "POST" {
        let mut request = agent.post(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send(body).unwrap()
    } else {
        let mut request = agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.call().unwrap()
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, headers, body)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str, starting: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, v)| k == name && v.starts_with(starting))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header starting with {starting:?} in {headers:?}"))
}

/// A sign-in form as a client gets it: the `kiln_sign_in=…` cookie pair and the form's token.
#[derive(Debug, Clone)]
pub struct SignInForm {
    pub cookie: String,
    pub csrf: String,
}

impl SignInForm {
    /// `GET /sign-in` (with `headers`).
    pub fn fetch(server: &KilnServer, headers: &[(&str, &str)]) -> SignInForm {
        let (status, reply_headers, page) =
            exchange("GET", &format!("{}/sign-in", server.url()), headers, b"");
        assert_eq!(status, 200, "{page}");
        SignInForm {
            cookie: header(&reply_headers, "set-cookie", "kiln_sign_in=")
                .split(';')
                .next()
                .unwrap()
                .to_string(),
            csrf: hidden_value(&page, "csrf"),
        }
    }

    /// Posts the form with these fields (and `headers`): (status, headers, body).
    pub fn post(
        &self,
        server: &KilnServer,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, String) {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        body.append_pair("csrf", &self.csrf);
        for (name, value) in fields {
            body.append_pair(name, value);
        }
        let mut all = vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", self.cookie.as_str()),
        ];
        all.extend_from_slice(headers);
        exchange(
            "POST",
            &format!("{}/sign-in", server.url()),
            &all,
            body.finish().as_bytes(),
        )
    }

    /// Posts an access key and secret.
    pub fn submit(
        &self,
        server: &KilnServer,
        access_key_id: &str,
        secret: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        self.post(
            server,
            &[
                ("access_key_id", access_key_id),
                ("secret_access_key", secret),
            ],
            &[],
        )
    }
}

/// Signs in over plain HTTP and returns the session cookie (`kiln_session=…`).
pub fn http_sign_in(server: &KilnServer, account: &Account<'_>) -> String {
    let (status, headers, body) =
        SignInForm::fetch(server, &[]).submit(server, account.access_key_id, account.secret);
    assert_eq!(status, 303, "{body}");
    header(&headers, "set-cookie", "kiln_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// The value of the first hidden input named `name` in a page.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}
