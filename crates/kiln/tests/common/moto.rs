//! moto's S3-compatible server, for artifacts every replica can read.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_until;

/// moto's S3-compatible server on a free port of 127.0.0.1; killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto's server");
        let moto = Moto { child, port };
        wait_until(Duration::from_secs(30), "moto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `[artifacts]` section of a `kiln.toml` that stores artifacts in this server.
    pub fn artifacts_config(&self) -> String {
        format!(
            "[artifacts]\ns3_endpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing-secret-key\"\n",
            self.endpoint()
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
