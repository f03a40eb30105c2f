-- Shared by the benchmark's wrk scripts: thread ids, token files, the report.
--
-- Each script is run as `wrk -s bench/wrk/<name>.lua ... -- <data file> <threads>`;
-- thread n (0-based) takes every line i of the data file with i % threads == n,
-- so no two threads ever share a refresh token.

local common = {}
local next_id = 0

function common.setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

function common.read_lines(path, id, threads)
   local lines, i = {}, 0
   for line in io.lines(path) do
      if line ~= "" then
         if i % threads == id then
            lines[#lines + 1] = line
         end
         i = i + 1
      end
   end
   if #lines == 0 then
      error("no data for thread " .. id .. " in " .. path)
   end
   return lines
end

-- A cycle over requests formatted once, in init: the same per-request Lua cost
-- for the baseline and for authsvc.
function common.cycle(requests)
   local i = 0
   return function()
      i = i % #requests + 1
      return requests[i]
   end
end

function common.json_headers(extra)
   local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
   for name, value in pairs(extra or {}) do
      headers[name] = value
   end
   return headers
end

-- One machine-readable line for bench/benchmark.py.
function common.done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean
   ))
end

return common
