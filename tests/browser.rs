//! A signed-in browser over real HTTP, for the web app's tests: the
//! session cookie, the CSRF token, GETs and form POSTs.

use kith_testkit::TestNode;

pub(crate) struct Browser {
    pub(crate) agent: ureq::Agent,
    pub(crate) base: String,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

impl Browser {
    /// Signs in with the URL `kith up` prints.
    pub(crate) fn sign_in(node: &TestNode) -> Browser {
        let agent = agent();
        let response = agent.get(&node.web_url()).call().unwrap();
        assert_eq!(response.status(), 303);
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let mut b = Browser {
            agent,
            base: node.http_base(),
            cookie,
            csrf: String::new(),
        };
        let home = b.get("/");
        let marker = "name=\"csrf-token\" content=\"";
        let start = home.find(marker).unwrap() + marker.len();
        b.csrf = home[start..start + 64].to_string();
        b
    }

    pub(crate) fn get_status(&self, path: &str) -> (u16, String) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap_or_default())
    }

    pub(crate) fn get(&self, path: &str) -> String {
        let (status, body) = self.get_status(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A GET with more cookies and headers than the session's; answers the
    /// status, the named response headers and the body.
    pub(crate) fn get_with(
        &self,
        path: &str,
        cookies: &str,
        headers: &[(&str, &str)],
        want: &[&str],
    ) -> (u16, Vec<String>, String) {
        let mut req = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Cookie", format!("{}{cookies}", self.cookie));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.call().unwrap();
        let got = want
            .iter()
            .map(|h| {
                r.headers()
                    .get(*h)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            })
            .collect();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (r.status().as_u16(), got, body)
    }

    /// A form POST with the CSRF token: status and body.
    pub(crate) fn post_answer(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &self.csrf));
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send_form(fields)
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// A form POST: its status and where it redirects to.
    pub(crate) fn post_location(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf", &self.csrf));
        let r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send_form(fields)
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), location)
    }

    pub(crate) fn post(&self, path: &str, form: &[(&str, &str)]) -> u16 {
        self.post_answer(path, form).0
    }
}
