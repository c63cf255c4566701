//! Connect + delete cycles against a running patchbay whose partners point at partner-sim: one
//! worker per partner (a workspace has at most one connection per partner), each connecting and
//! deleting in a loop for a fixed time. Prints `cycles=N seconds=S per_second=R errors=E`.
//!
//! usage: bench-cycles URL TOKEN SECONDS PARTNER...

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: bench-cycles URL TOKEN SECONDS PARTNER...");
        std::process::exit(2);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (url, token) = (args[1].clone(), args[2].clone());
    let seconds: u64 = args[3].parse().expect("SECONDS");
    let http = reqwest::Client::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let workers: Vec<_> = args[4..]
        .iter()
        .map(|partner| {
            let (http, url, token, partner) =
                (http.clone(), url.clone(), token.clone(), partner.clone());
            tokio::spawn(async move {
                let pc = format!("{url}/api/2.0/partner-connect");
                let (mut cycles, mut errors) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let connect = http
                        .post(format!("{pc}/partners/{partner}/connect"))
                        .bearer_auth(&token)
                        .body("{}")
                        .send()
                        .await;
                    let delete = http
                        .delete(format!("{pc}/connections/{partner}"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    match (connect, delete) {
                        (Ok(c), Ok(d)) if c.status().is_success() && d.status().is_success() => {
                            cycles += 1;
                        }
                        (c, d) => {
                            errors += 1;
                            if errors <= 3 {
                                eprintln!(
                                    "bench-cycles: {partner}: connect {:?}, delete {:?}",
                                    c.map(|r| r.status()),
                                    d.map(|r| r.status())
                                );
                            }
                        }
                    }
                }
                (cycles, errors)
            })
        })
        .collect();
    let (mut cycles, mut errors) = (0, 0);
    for w in workers {
        let (c, e) = w.await.expect("worker");
        cycles += c;
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "cycles={cycles} seconds={elapsed:.2} per_second={:.1} errors={errors}",
        cycles as f64 / elapsed
    );
}
