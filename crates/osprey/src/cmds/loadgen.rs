//! `osprey loadgen`: HTTP load against a DeepStack endpoint (Osprey's or anyone's).
//!
//! Each of `--concurrency` threads keeps one keep-alive connection and posts Frigate-shaped
//! multipart requests back to back; latencies are measured per request. Prints one JSON object.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Endpoint, e.g. http://127.0.0.1:32168/v1/vision/detection
    #[arg(long)]
    pub url: String,
    /// Image to send (any format Osprey decodes); re-encoded as JPEG when --resize is given.
    #[arg(long)]
    pub image: PathBuf,
    /// Resize to WxH (stretching) and encode as JPEG, e.g. 320x320 or 1920x1080.
    #[arg(long)]
    pub resize: Option<String>,
    /// JPEG quality for --resize.
    #[arg(long, default_value_t = 75)]
    pub quality: i32,
    /// Simultaneous connections, each with one request in flight.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Requests to time (after the warm-up).
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Untimed requests first.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Requests per second per connection, paced like a camera-driven client such as Frigate
    /// (default: back to back).
    #[arg(long)]
    pub rate: Option<f64>,
}

struct Target {
    host_port: String,
    path: String,
}

fn parse_url(url: &str) -> anyhow::Result<Target> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?;
    let (hp, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Ok(Target {
        host_port: hp.to_string(),
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
    })
}

fn image_bytes(args: &Args) -> anyhow::Result<Vec<u8>> {
    let raw =
        std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let Some(size) = &args.resize else {
        return Ok(raw);
    };
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .context("--resize expects WxH")?;
    let img = osprey_image::decode(&raw, &osprey_image::DecodeLimits::default())?;
    let small = osprey_image::resize::resize(&img, w, h);
    let t = turbojpeg::Image {
        pixels: small.as_raw(),
        width: w as usize,
        pitch: w as usize * 3,
        height: h as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    Ok(turbojpeg::compress(t, args.quality, turbojpeg::Subsamp::Sub2x2)?.to_vec())
}

fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut head = Vec::with_capacity(512);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let len = text
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((status, body))
}

#[allow(clippy::print_stdout)]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let target = parse_url(&args.url)?;
    let image = image_bytes(&args)?;
    let boundary = "osprey-loadgen-boundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image\"\r\n\r\n").into_bytes();
    body.extend_from_slice(&image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        target.path,
        target.host_port,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let request = Arc::new(request);
    let total = args.warmup + args.requests;
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.requests)));
    let errors = Arc::new(AtomicUsize::new(0));
    let first_timed = Arc::new(Mutex::new(None::<Instant>));
    let threads: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (request, next, latencies, errors, first_timed) =
                (Arc::clone(&request), Arc::clone(&next), Arc::clone(&latencies), Arc::clone(&errors), Arc::clone(&first_timed));
            let addr = target.host_port.clone();
            let warmup = args.warmup;
            let period = args.rate.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut conn: Option<TcpStream> = None;
                let mut due = Instant::now();
                loop {
                    if let Some(p) = period {
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        due += p;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok(());
                    }
                    if i == warmup {
                        if let Ok(mut f) = first_timed.lock() {
                            f.get_or_insert_with(Instant::now);
                        }
                    }
                    let t = Instant::now();
                    let result = (|| -> std::io::Result<(u16, Vec<u8>)> {
                        if conn.is_none() {
                            let c = TcpStream::connect(&addr)?;
                            c.set_nodelay(true)?;
                            c.set_read_timeout(Some(Duration::from_secs(60)))?;
                            conn = Some(c);
                        }
                        let c = conn.as_mut().ok_or(std::io::ErrorKind::NotConnected)?;
                        c.write_all(&request)?;
                        read_response(c)
                    })();
                    let dt = t.elapsed().as_secs_f64() * 1e3;
                    let ok = matches!(&result, Ok((200, body))
                        if serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|j| j["success"] == true));
                    if result.is_err() {
                        conn = None;
                    }
                    if i >= warmup {
                        if ok {
                            if let Ok(mut l) = latencies.lock() {
                                l.push(dt);
                            }
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
    }
    let elapsed = first_timed
        .lock()
        .ok()
        .and_then(|f| *f)
        .map(|f| f.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        if l.is_empty() {
            f64::NAN
        } else {
            l[((l.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    let out = serde_json::json!({
        "url": args.url,
        "image_bytes": image.len(),
        "resize": args.resize,
        "concurrency": args.concurrency,
        "requests": args.requests,
        "ok": l.len(),
        "errors": errors.load(Ordering::Relaxed),
        "seconds": elapsed,
        "throughput_rps": if elapsed > 0.0 { l.len() as f64 / elapsed } else { 0.0 },
        "p50_ms": pct(0.5),
        "p90_ms": pct(0.9),
        "p99_ms": pct(0.99),
        "max_ms": l.last().copied().unwrap_or(f64::NAN),
    });
    println!("{out}");
    Ok(if errors.load(Ordering::Relaxed) == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
