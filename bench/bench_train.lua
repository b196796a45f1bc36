-- Training and inference throughput (images/s; forward, backward and SGD step at batch 128)
-- for the small CNN on 1x28x28, ResNet-20 on 3x32x32 and a ViT (patch 4, dim 128, depth 4,
-- heads 4, MLP 256) on 3x32x32, with the heap allocations per steady-state step and the peak
-- resident memory. Medians of timed repeats after warm-up.
--   bin/tau bench/bench_train.lua [threads] [steps]
local threads = tonumber(arg and arg[1]) or 2
local steps = tonumber(arg and arg[2]) or 8
tau.set_num_threads(threads)

local function median(t) table.sort(t); return t[(#t + 1) // 2] end

local function peak_rss_mb()
  local f = io.open("/proc/self/status")
  if not f then return 0 / 0 end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")) / 1024
end

local cases = {
  {"cnn 1x28x28", function() return tau.models.cnn{channels = 1, classes = 10, image = 28} end, {1, 28, 28}},
  {"resnet20 3x32x32", function() return tau.models.resnet{depth = 20, classes = 10, channels = 3} end, {3, 32, 32}},
  {"vit 3x32x32", function()
    return tau.models.vit{patch = 4, dim = 128, depth = 4, heads = 4, mlp = 256, classes = 10, image = 32, channels = 3}
  end, {3, 32, 32}},
}

print(string.format("threads %d, batch 128", threads))
print(string.format("%-18s %12s %12s %14s %12s", "model", "train img/s", "infer img/s", "allocs/step", "peak RSS MB"))
for _, c in ipairs(cases) do
  tau.manual_seed(1)
  local model = c[2]()
  local opt = tau.optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9})
  local x = tau.rand(128, c[3][1], c[3][2], c[3][3])
  local y = tau.randint(1, 10, {128})
  local function step()
    opt:zero_grad()
    tau.F.cross_entropy(model(x), y):backward()
    opt:step()
  end
  for _ = 1, 3 do step() end
  collectgarbage()
  local a0 = tau.memory().heap_allocs
  local ts = {}
  for i = 1, steps do
    local t0 = tau.time()
    step()
    ts[i] = tau.time() - t0
  end
  local allocs = (tau.memory().heap_allocs - a0) / steps
  local train = 128 / median(ts)
  model:evaluate()
  local ti = {}
  for i = 1, steps do
    local t0 = tau.time()
    tau.no_grad(function() return model(x) end)
    ti[i] = tau.time() - t0
  end
  print(string.format("%-18s %12.0f %12.0f %14.1f %12.0f", c[1], train, 128 / median(ti), allocs, peak_rss_mb()))
end
