-- wrk script: POST a small program to /v1/execute with an API key, and count answers that are not an `ok` outcome.
--   ISOBOX_KEY=... wrk -t2 -c64 -d10s --latency -s tests/serve/wrk-execute.lua http://127.0.0.1:8080/v1/execute
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ISOBOX_KEY")
wrk.body = '{"code": "const xs = input.map((x) => x * 2); return xs.reduce((a, b) => a + b, 0)", "input": [1, 2, 3, 4, 5]}'

local failed = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"ok":true', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("isobox: requests %d, failed %d, p50 %.2f ms, p99 %.2f ms\n", summary.requests,
    failed, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
