//! Checks a feed file as `POST /v1/products` does, in chunks of 512 KiB,
//! and prints its items and how fast the checker alone ran:
//! `cargo run --release -p feed --example check -- FILE`.

use std::io::Read as _;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: check FILE")?;
    let mut file = std::fs::File::open(&path)?;
    let mut chunks = Vec::new();
    loop {
        let mut chunk = vec![0; 512 * 1024];
        let read = file.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        chunk.truncate(read);
        chunks.push(chunk);
    }
    let size: usize = chunks.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut scanner = feed::Scanner::checking();
    for chunk in &chunks {
        scanner.feed(chunk, &mut |_| {})?;
    }
    let items = scanner.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{items} items, {size} bytes in {seconds:.3} s: {:.0} MB/s",
        size as f64 / seconds / 1e6
    );
    Ok(())
}
