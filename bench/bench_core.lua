-- tau.matmul (called from Lua) beside raw cblas_sgemm on the same shapes, and element-wise
-- add/mul beside a plain C loop, with 1 and 2 threads. Figures are medians of repeats.
local baseline = arg and arg[1] or "build/bench/sgemm_baseline"

local function median(t) table.sort(t); return t[(#t + 1) // 2] end

local function time_it(fn, reps)
  fn()
  local ts = {}
  for r = 1, reps do
    local t0 = tau.time()
    fn()
    ts[r] = tau.time() - t0
  end
  return median(ts)
end

local function run(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

print("matmul: GFLOP/s, tau.matmul from Lua vs raw cblas_sgemm (same shapes, same run)")
print(string.format("%-22s %7s %10s %10s %7s", "shape (m x k . k x n)", "threads", "tau", "sgemm", "ratio"))
local shapes = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {128, 3136, 128}}
for _, threads in ipairs{1, 2} do
  tau.set_num_threads(threads)
  for _, s in ipairs(shapes) do
    local m, k, n = s[1], s[2], s[3]
    local a, b = tau.randn(m, k), tau.randn(k, n)
    local flops = 2 * m * n * k
    local reps = flops > 1e10 and 5 or flops > 1e9 and 9 or 15
    local t = time_it(function() local c = a:matmul(b) end, reps)
    local tau_gf = flops / t / 1e9
    local raw = tonumber(run(string.format("%s %d gemm %d %d %d", baseline, threads, m, n, k)))
    print(string.format("%-22s %7d %10.1f %10.1f %6.0f%%", string.format("%dx%d . %dx%d", m, k, k, n), threads,
                        tau_gf, raw, 100 * tau_gf / raw))
  end
end

print()
print("element-wise: GB/s moved (2 reads + 1 write), tau from Lua (z = x + y, a new tensor each time) vs a")
print("plain single-threaded C loop writing into one preallocated array")
print(string.format("%-10s %4s %7s %10s %10s %7s", "n", "op", "threads", "tau", "C loop", "ratio"))
for _, n in ipairs{1000000, 10000000} do
  local x, y = tau.randn(n), tau.randn(n)
  local raw = {}
  for v in run(string.format("%s 1 ewise %d", baseline, n)):gmatch("%S+") do raw[#raw + 1] = tonumber(v) end
  for _, threads in ipairs{1, 2} do
    tau.set_num_threads(threads)
    for i, op in ipairs{"add", "mul"} do
      local t = time_it(op == "add" and function() local z = x + y end or function() local z = x * y end, 15)
      local gbs = 12 * n / t / 1e9
      print(string.format("%-10d %4s %7d %10.2f %10.2f %6.0f%%", n, op, threads, gbs, raw[i], 100 * gbs / raw[i]))
    end
  end
end
