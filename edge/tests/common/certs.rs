//! Certificates made with the `openssl` CLI for TLS tests: a CA of the test's own and leaf
//! certificates it signs, written as the files an operator would configure (chain = leaf
//! then CA, key apart).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI must be installed (make test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test certificate authority in a directory.
pub struct TestCa {
    dir: PathBuf,
    /// The CA certificate (PEM), what a client is told to trust.
    pub cert: PathBuf,
    key: PathBuf,
}

/// A leaf certificate chain and its key.
pub struct Leaf {
    /// Chain file: the leaf, then the CA.
    pub chain: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

impl Leaf {
    /// The edge flags that serve HTTPS on `addr` with this certificate.
    pub fn edge_flags(&self, addr: &str) -> Vec<String> {
        vec![
            "--tls-listen".into(),
            addr.into(),
            "--tls-cert".into(),
            self.chain.to_str().unwrap().into(),
            "--tls-key".into(),
            self.key.to_str().unwrap().into(),
        ]
    }
}

impl TestCa {
    /// A new P-256 CA valid for two days, in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Sunomi test CA",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        TestCa {
            dir: dir.to_path_buf(),
            cert,
            key,
        }
    }

    /// A server certificate for `names` (DNS names; IP addresses also as IP SANs), saved as
    /// `{file}.pem` (chain) and `{file}.key`. Calling it again with the same `file` replaces
    /// both with a new key and certificate.
    pub fn leaf(&self, file: &str, names: &[&str]) -> Leaf {
        let d = &self.dir;
        let (csr, ext, leaf) = (
            d.join(format!("{file}.csr")),
            d.join(format!("{file}.ext")),
            d.join(format!("{file}.leaf")),
        );
        let (chain, key) = (d.join(format!("{file}.pem")), d.join(format!("{file}.key")));
        let tmp_key = d.join(format!("{file}.key.new"));
        let cn = format!("/CN={}", names[0]);
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &cn,
            "-keyout",
            tmp_key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ]);
        let sans: Vec<String> = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            self.cert.to_str().unwrap(),
            "-CAkey",
            self.key.to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            ext.to_str().unwrap(),
            "-out",
            leaf.to_str().unwrap(),
        ]);
        let mut pem = std::fs::read(&leaf).unwrap();
        pem.extend(std::fs::read(&self.cert).unwrap());
        // Replaced the way deploy tools do: written aside, renamed over.
        let tmp_chain = d.join(format!("{file}.pem.new"));
        std::fs::write(&tmp_chain, pem).unwrap();
        std::fs::rename(&tmp_key, &key).unwrap();
        std::fs::rename(&tmp_chain, &chain).unwrap();
        Leaf { chain, key }
    }
}

/// SHA-256 fingerprint (hex, lower case, no colons) of a PEM certificate file's first
/// certificate.
pub fn fingerprint_of_file(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    parse_fingerprint(&String::from_utf8_lossy(&out.stdout))
}

fn parse_fingerprint(text: &str) -> String {
    text.split('=')
        .nth(1)
        .unwrap_or("")
        .trim()
        .replace(':', "")
        .to_ascii_lowercase()
}

/// The fingerprint of the certificate a TLS server at `addr` presents for `server_name`
/// (`None`: no SNI sent), as `openssl s_client` sees it.
pub fn served_fingerprint(addr: &str, server_name: Option<&str>) -> String {
    let mut args = vec!["s_client", "-connect", addr];
    match server_name {
        Some(name) => args.extend(["-servername", name]),
        None => args.push("-noservername"),
    }
    let out = Command::new("openssl")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let pem = String::from_utf8_lossy(&out.stdout);
    let begin = pem.find("-----BEGIN CERTIFICATE-----");
    let end = pem.find("-----END CERTIFICATE-----");
    let (Some(b), Some(e)) = (begin, end) else {
        return String::new();
    };
    let cert = &pem[b..e + "-----END CERTIFICATE-----".len()];
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cert.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    parse_fingerprint(&String::from_utf8_lossy(&out.stdout))
}
