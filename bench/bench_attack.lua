-- PGD-20 throughput on a small CNN for 1x28x28 images, beside the cost of one forward + backward
-- of the same model w.r.t. its input (the floor for an attack step) in the same run.
--   bin/tau bench/bench_attack.lua [batch=256] [repeats=3] [threads]
local F = tau.F
local batch = tonumber(arg and arg[1]) or 256
local repeats = tonumber(arg and arg[2]) or 3
if arg and arg[3] then tau.set_num_threads(tonumber(arg[3])) end

tau.manual_seed(0)
local function param(...) return (tau.randn(...) * 0.05):requires_grad() end
local w1, b1 = param(32, 1, 3, 3), param(32)
local w2, b2 = param(64, 32, 3, 3), param(64)
local w3, b3 = param(128, 3136), param(128)
local w4, b4 = param(10, 128), param(10)

local function model(x)
  local h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, {padding = 1})), 2)
  h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, {padding = 1})), 2)
  h = F.relu(F.linear(h:reshape(h:size(1), 3136), w3, b3))
  return F.linear(h, w4, b4)
end

local x = tau.rand(batch, 1, 28, 28)
local y = tau.randint(1, 10, {batch})

-- wall time: os.clock counts the CPU time of every thread
local now = tau.time

-- Best time per call of each function; the measurements interleave, so that a change in the
-- machine's load during the run biases none of them.
local function time_all(fns)
  local best = {}
  for i, f in ipairs(fns) do f[1](); best[i] = math.huge end -- warm the caches and the allocator
  for _ = 1, repeats do
    for i, f in ipairs(fns) do
      local t0 = now()
      for _ = 1, f[2] do f[1]() end
      best[i] = math.min(best[i], (now() - t0) / f[2])
    end
  end
  return table.unpack(best)
end

local function input_fwd_bwd()
  local xi = x:detach():requires_grad()
  local loss = F.cross_entropy(model(xi), y, {reduction = "sum"})
  return tau.grad(loss, {xi})[1]
end

local function forward_only()
  return tau.no_grad(function() return model(x) end)
end

local function pgd20()
  return tau.attack.pgd(model, x, y, {eps = 0.3, alpha = 0.01, steps = 20, seed = 1})
end

local t_fwd, t_fb, t_pgd = time_all{{forward_only, 5}, {input_fwd_bwd, 5}, {pgd20, 1}}
print(string.format("threads %d, batch %d (best of %d)", tau.get_num_threads(), batch, repeats))
print(string.format("forward (no grad)            %9.1f images/s  %8.2f ms/batch", batch / t_fwd, t_fwd * 1e3))
print(string.format("forward+backward w.r.t. x    %9.1f images/s  %8.2f ms/batch", batch / t_fb, t_fb * 1e3))
print(string.format("PGD-20                       %9.1f images/s  %8.2f ms/batch", batch / t_pgd, t_pgd * 1e3))
print(string.format("PGD-20 per step              %9.1f images/s  %8.2f ms/step  (%.3fx of forward+backward;" ..
                    " 22 forwards + 20 backwards incl. clean and final passes)",
                    batch * 20 / t_pgd, t_pgd / 20 * 1e3, (t_pgd / 20) / t_fb))
