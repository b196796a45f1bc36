-- tau.optim: updates against hand-computed steps, state round trips, schedules, clipping.
local T = ...
local optim, nn = tau.optim, tau.nn

local function param(values) return tau.tensor(values):requires_grad() end

-- Runs opt:step() with the given gradients (one list per step) and returns the parameter's
-- values after each step.
local function run(opt, p, grads)
  local out = {}
  for i, g in ipairs(grads) do
    p.grad = tau.tensor(g)
    opt:step()
    out[i] = p:totable()
  end
  return out
end

local P0 = {1.0, -2.0, 0.5}
local G = {{0.5, 1.0, -1.5}, {-0.2, 0.4, 2.0}, {1.0, -1.0, 0.25}}

-- The reference: PyTorch's SGD on plain numbers.
local function sgd_ref(o)
  local p, buf, out = {table.unpack(P0)}, nil, {}
  for s, g in ipairs(G) do
    local nb = {}
    for i = 1, #p do
      local d = g[i] + (o.weight_decay or 0) * p[i]
      local m = o.momentum or 0
      if m ~= 0 then
        nb[i] = s == 1 and d or m * buf[i] + (1 - (o.dampening or 0)) * d
        d = o.nesterov and d + m * nb[i] or nb[i]
      end
      p[i] = p[i] - o.lr * d
    end
    buf = nb
    out[s] = {table.unpack(p)}
  end
  return out
end

local function adam_ref(o, decoupled)
  local b1, b2, eps, wd = 0.9, 0.999, o.eps or 1e-8, o.weight_decay or 0
  if o.betas then b1, b2 = o.betas[1], o.betas[2] end
  local p, m, v, out = {table.unpack(P0)}, {0, 0, 0}, {0, 0, 0}, {}
  for s, g in ipairs(G) do
    for i = 1, #p do
      local gi = g[i]
      if decoupled then p[i] = p[i] * (1 - o.lr * wd) else gi = gi + wd * p[i] end
      m[i] = b1 * m[i] + (1 - b1) * gi
      v[i] = b2 * v[i] + (1 - b2) * gi * gi
      local mhat, vhat = m[i] / (1 - b1 ^ s), v[i] / (1 - b2 ^ s)
      p[i] = p[i] - o.lr * mhat / (math.sqrt(vhat) + eps)
    end
    out[s] = {table.unpack(p)}
  end
  return out
end

local sgd_cases = {
  {lr = 0.1},
  {lr = 0.1, weight_decay = 0.01},
  {lr = 0.05, momentum = 0.9},
  {lr = 0.05, momentum = 0.9, dampening = 0.5, weight_decay = 0.1},
  {lr = 0.05, momentum = 0.9, nesterov = true},
  {lr = 0.05, momentum = 0.8, nesterov = true, weight_decay = 0.05},
}

for _, o in ipairs(sgd_cases) do
  local parts = {}
  for _, k in ipairs({"lr", "momentum", "dampening", "weight_decay", "nesterov"}) do
    if o[k] ~= nil then parts[#parts + 1] = k .. "=" .. tostring(o[k]) end
  end
  T.test("SGD matches the hand-computed steps: " .. table.concat(parts, ", "), function()
    local p = param(P0)
    local got = run(optim.SGD({p}, o), p, G)
    T.close(got, sgd_ref(o), 1e-6)
  end)
end

T.test("Adam matches the hand-computed steps, bias correction included", function()
  local p = param(P0)
  local got = run(optim.Adam({p}, {lr = 0.1}), p, G)
  local want = adam_ref({lr = 0.1})
  T.close(got, want, 1e-6)
  -- the first step moves every coordinate by lr (bias-corrected m / sqrt(v) is sign(g))
  T.near(got[1][1], P0[1] - 0.1, 1e-6)
  T.near(got[1][3], P0[3] + 0.1, 1e-6)
end)

T.test("Adam with L2 weight decay and custom betas", function()
  local o = {lr = 0.01, betas = {0.8, 0.99}, eps = 1e-6, weight_decay = 0.1}
  local p = param(P0)
  T.close(run(optim.Adam({p}, o), p, G), adam_ref(o), 1e-6)
end)

T.test("AdamW decouples the weight decay", function()
  local o = {lr = 0.1, weight_decay = 0.5}
  local p = param(P0)
  local got = run(optim.AdamW({p}, o), p, G)
  T.close(got, adam_ref(o, true), 1e-6)
  -- and differs from Adam's L2 decay
  T.ok(math.abs(got[3][1] - adam_ref(o)[3][1]) > 1e-3)
  T.eq(optim.AdamW({param(P0)}).param_groups[1].weight_decay, 1e-2)
  T.eq(optim.Adam({param(P0)}).param_groups[1].lr, 1e-3)
end)

T.test("Adam amsgrad keeps the largest second moment", function()
  local p = param({1})
  local opt = optim.Adam({p}, {lr = 0.1, amsgrad = true})
  p.grad = tau.tensor{10}; opt:step()
  p.grad = tau.tensor{0.1}; opt:step()
  local st = opt.state[p]
  T.ok(st.max_exp_avg_sq[1] > st.exp_avg_sq[1])
  T.near(st.max_exp_avg_sq[1], 0.1, 1e-5)
end)

T.test("step skips parameters without a gradient", function()
  for _, make in ipairs({function(ps) return optim.SGD(ps, {lr = 0.1, momentum = 0.9}) end,
                         function(ps) return optim.Adam(ps, {lr = 0.1}) end}) do
    local a, b = param({1, 2}), param({3})
    local opt = make({a, b})
    a.grad = tau.tensor{1, 1}
    b.grad = nil
    opt:step()
    T.eq(b[1], 3)
    T.eq(opt.state[b], nil)
    T.ok(a[1] < 1)
    a.grad, b.grad = nil, tau.tensor{1}
    local a1 = a:totable()
    opt:step()
    T.close(a, a1)
    T.ok(b[1] < 3)
    if opt.state[a].step then T.eq(opt.state[a].step, 1); T.eq(opt.state[b].step, 1) end
  end
end)

T.test("a training step through backward", function()
  local p = param({2, -3})
  local opt = optim.SGD({p}, {lr = 0.25})
  for _ = 1, 2 do
    opt:zero_grad()
    local loss = (p * p):sum()       -- gradient 2p: each step halves p
    loss:backward()
    opt:step()
  end
  T.close(p, {0.5, -0.75})
  T.ok(p.needs_grad and p.is_leaf)
  opt:zero_grad()
  T.eq(p.grad, nil)
  -- closure form
  local loss = opt:step(function() opt:zero_grad(); local l = (p * p):sum(); l:backward(); return l end)
  T.near(loss:item(), 0.8125, 1e-6)
  T.close(p, {0.25, -0.375})
end)

T.test("parameter groups take their own options", function()
  local a, b = param({1}), param({1})
  local opt = optim.SGD({{params = {a}}, {params = {b}, lr = 0.5}}, {lr = 0.1})
  a.grad, b.grad = tau.tensor{1}, tau.tensor{1}
  opt:step()
  T.near(a[1], 0.9, 1e-6)
  T.near(b[1], 0.5, 1e-6)
  T.eq(opt:get_lr(), 0.1)
  opt:set_lr(0.2)
  T.eq(opt.param_groups[2].lr, 0.2)
end)

T.test("optimiser arguments are checked", function()
  T.raises(function() optim.SGD({param({1})}, {}) end, "tau.optim.SGD", "'lr' is required")
  T.raises(function() optim.SGD({param({1})}, {lr = -1}) end, "tau.optim.SGD: lr must be a non-negative number, got -1")
  T.raises(function() optim.SGD({param({1})}, {lr = 0.1, nesterov = true}) end, "nesterov")
  T.raises(function() optim.Adam({param({1})}, {betas = {0.9, 1.5}}) end, "tau.optim.Adam", "beta2")
  T.raises(function() optim.Adam({5}) end, "tau.optim.Adam", "not a tensor")
  local p = param({1})
  T.raises(function() optim.SGD({p, p}, {lr = 1}) end, "appears more than once")
end)

T.test("a step allocates no memory once the state exists", function()
  tau.manual_seed(1)
  local model = nn.Sequential{nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)}
  for _, make in ipairs({function(ps) return optim.SGD(ps, {lr = 0.01, momentum = 0.9, weight_decay = 1e-4}) end,
                         function(ps) return optim.AdamW(ps, {lr = 1e-3}) end}) do
    local opt = make(model:parameters())
    model(tau.randn(8, 64)):sum():backward()
    opt:step()
    collectgarbage()
    local before = tau.memory()
    for _ = 1, 20 do opt:step() end
    local after = tau.memory()
    T.eq(after.heap_allocs, before.heap_allocs, "heap allocations")
    T.eq(after.live, before.live, "live tensor bytes")
  end
end)

T.test("a whole training step reuses its blocks: data, headers, graph nodes, workspaces", function()
  tau.manual_seed(2)
  local model = nn.Sequential{nn.Conv2d(3, 8, 3, {padding = 1}), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(8, 8, 3, {stride = 2, padding = 1}), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)}
  local opt = optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9})
  local x, y = tau.randn(16, 3, 16, 16), tau.randint(1, 10, {16})
  local function step()
    opt:zero_grad()
    tau.F.cross_entropy(model(x), y, {tau = 2}):backward()
    opt:step()
    collectgarbage() -- this step's garbage back in the cache before the next
  end
  for _ = 1, 3 do step() end
  local before = tau.memory()
  for _ = 1, 10 do step() end
  local after = tau.memory()
  T.eq(after.heap_allocs, before.heap_allocs, "heap allocations in 10 steps")
end)

---------------------------------------------------------------------------- state round trip

local function make_problem(seed)
  tau.manual_seed(seed)
  local model = nn.Sequential{nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)}
  return model
end

local function train(model, opt, sched, steps, data_seed)
  tau.manual_seed(data_seed)
  for _ = 1, steps do
    local x, y = tau.randn(16, 5), tau.randint(1, 3, {16})
    opt:zero_grad()
    tau.F.cross_entropy(model(x), y):backward()
    opt:step()
    if sched then sched:step() end
  end
end

local makers = {
  SGD = function(ps) return optim.SGD(ps, {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-3}) end,
  Adam = function(ps) return optim.Adam(ps, {lr = 0.01, weight_decay = 1e-3}) end,
  AdamW = function(ps) return optim.AdamW(ps, {lr = 0.01, amsgrad = true}) end,
}

for _, name in ipairs({"SGD", "Adam", "AdamW"}) do
  T.test(name .. " state_dict round trip continues bit-identically", function()
    local a = make_problem(1)
    local oa = makers[name](a:parameters())
    local sa = optim.cosine(oa, {epochs = 2, steps_per_epoch = 10, warmup = 0.5})
    train(a, oa, sa, 6, 10)
    -- snapshot, then both copies continue on the same data
    local msd = {}
    for k, v in pairs(a:state_dict()) do msd[k] = v:clone() end
    local osd, ssd = oa:state_dict(), sa:state_dict()
    train(a, oa, sa, 5, 20)
    local b = make_problem(2)
    b:load_state_dict(msd)
    local ob = makers[name](b:parameters())
    local sb = optim.cosine(ob, {epochs = 2, steps_per_epoch = 10, warmup = 0.5})
    ob:load_state_dict(osd)
    sb:load_state_dict(ssd)
    T.eq(ob:get_lr(), osd.param_groups[1].lr)
    train(b, ob, sb, 5, 20)
    local pa, pb = a:parameters(), b:parameters()
    for i = 1, #pa do T.ok(pa[i]:equal(pb[i]), "parameter " .. i .. " identical") end
    T.eq(ob:get_lr(), oa:get_lr())
  end)
end

T.test("optimiser state_dict is a snapshot and checks what it loads", function()
  local p = param({1, 2})
  local opt = optim.SGD({p}, {lr = 0.1, momentum = 0.9})
  p.grad = tau.tensor{1, 1}
  opt:step()
  local sd = opt:state_dict()
  T.eq(sd.param_groups[1].params[1], 1)
  T.eq(sd.param_groups[1].momentum, 0.9)
  local buf = sd.state[1].momentum_buffer
  T.close(buf, {1, 1})
  opt:step()
  T.close(buf, {1, 1}, 0, "the snapshot does not follow later steps")
  local other = optim.SGD({param({1, 2, 3})}, {lr = 0.1, momentum = 0.9})
  T.raises(function() other:load_state_dict(sd) end, "momentum_buffer of parameter 1 has size [2], the parameter [3]")
  local two = optim.SGD({param({1}), param({2})}, {lr = 0.1})
  T.raises(function() two:load_state_dict(sd) end, "group 1 has 1 parameters in the state, 2 in this optimiser")
  T.raises(function() two:load_state_dict({}) end, "expected a table {state = ..., param_groups = ...}")
end)

---------------------------------------------------------------------------- schedules

local function lrs(sched, n)
  local out = {sched:get_lr()}
  for _ = 1, n do out[#out + 1] = sched:step() end
  return out
end

T.test("cosine: warmup then a half cosine to min_lr", function()
  local opt = optim.SGD({param({1})}, {lr = 0.1})
  local s = optim.cosine(opt, {epochs = 10, warmup = 2})
  local got = lrs(s, 11)
  local want = {0.1 / 3, 0.2 / 3}
  for e = 2, 10 do want[#want + 1] = 0.05 * (1 + math.cos(math.pi * (e - 2) / 8)) end
  want[#want + 1] = 0
  T.close(got, want, 1e-12)
  T.near(got[7], 0.05, 1e-12)
  T.eq(opt.param_groups[1].lr, 0)
  -- per optimiser step, with a floor
  local opt2 = optim.SGD({param({1})}, {lr = 1})
  local s2 = optim.cosine(opt2, {epochs = 2, steps_per_epoch = 4, min_lr = 0.1})
  local got2 = lrs(s2, 8)
  T.near(got2[1], 1, 1e-12)
  T.near(got2[5], 0.55, 1e-12)
  T.near(got2[9], 0.1, 1e-12)
  T.raises(function() optim.cosine(opt, {}) end, "tau.optim.cosine: option 'epochs' is required")
  T.raises(function() optim.cosine(opt, {epochs = 1, warmup = 2}) end, "warmup is longer")
end)

T.test("multistep and step_lr sequences", function()
  local opt = optim.SGD({param({1})}, {lr = 0.1})
  T.close(lrs(optim.multistep(opt, {milestones = {4, 2}}), 5), {0.1, 0.1, 0.01, 0.01, 0.001, 0.001}, 1e-12)
  local opt2 = optim.SGD({param({1})}, {lr = 1})
  T.close(lrs(optim.step_lr(opt2, {step_size = 3, gamma = 0.5}), 7), {1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25}, 1e-12)
  T.raises(function() optim.multistep(opt2, {}) end, "milestones")
  T.raises(function() optim.step_lr(opt2, {}) end, "tau.optim.step_lr: option 'step_size' is required")
end)

T.test("schedules scale each group from its initial rate and round trip", function()
  local opt = optim.SGD({{params = {param({1})}, lr = 1}, {params = {param({1})}, lr = 0.1}}, {lr = 1})
  local s = optim.step_lr(opt, {step_size = 1, gamma = 0.5})
  s:step()
  T.close(s:get_lrs(), {0.5, 0.05}, 1e-12)
  local sd = s:state_dict()
  s:step(); s:step()
  local opt2 = optim.SGD({{params = {param({1})}, lr = 1}, {params = {param({1})}, lr = 0.1}}, {lr = 1})
  local s2 = optim.step_lr(opt2, {step_size = 1, gamma = 0.5})
  s2:load_state_dict(sd)
  T.close(s2:get_lrs(), {0.5, 0.05}, 1e-12)
  s2:step(); s2:step()
  T.close(s2:get_lrs(), s:get_lrs(), 1e-12)
end)

---------------------------------------------------------------------------- clipping

T.test("clip_grad_norm returns the total norm and rescales above max_norm", function()
  local a, b, c = param({0, 0}), param({0}), param({0})
  a.grad, b.grad = tau.tensor{3, 4}, tau.tensor{12}
  local n = optim.clip_grad_norm({a, b, c}, 6.5)
  T.near(n, 13, 1e-9)
  T.close(a.grad, {1.5, 2}, 1e-5)
  T.close(b.grad, {6}, 1e-5)
  T.eq(c.grad, nil)
  -- below the limit: untouched
  T.near(optim.clip_grad_norm({a, b}, 100), 6.5, 1e-5)
  T.close(a.grad, {1.5, 2}, 1e-5)
  -- other norms
  a.grad = tau.tensor{-3, 4}
  T.near(optim.clip_grad_norm({a}, 1, math.huge), 4, 1e-9)
  T.close(a.grad, {-0.75, 1}, 1e-5)
  a.grad = tau.tensor{-3, 4}
  T.near(optim.clip_grad_norm(a, 100, 1), 7, 1e-9)
  T.raises(function() optim.clip_grad_norm({a}, 1, 0) end, "norm type must be positive")
end)

T.test("opt.lr follows the schedule; per_step says when to step it", function()
  local opt = optim.SGD({param({1})}, {lr = 0.1})
  T.eq(opt.lr, 0.1)
  local s = optim.step_lr(opt, {step_size = 1, gamma = 0.5})
  s:step()
  T.eq(opt.lr, 0.05)
  T.eq(s.per_step, false)
  T.eq(optim.cosine(opt, {epochs = 3}).per_step, false)
  T.eq(optim.cosine(opt, {epochs = 3, steps_per_epoch = 100}).per_step, true)
  T.eq(optim.multistep(opt, {milestones = {1}}).per_step, false)
end)

T.test("optimiser and schedule state survive tau.save and tau.load", function()
  if not tau.save then T.skip("tau.save is not available") end
  local a = make_problem(1)
  local oa = optim.Adam(a:parameters(), {lr = 0.01, amsgrad = true})
  local sa = optim.multistep(oa, {milestones = {3}, gamma = 0.5})
  train(a, oa, sa, 4, 10)
  local path = os.tmpname()
  tau.save(path, {model = a:state_dict(), optim = oa:state_dict(), schedule = sa:state_dict()})
  local ck = tau.load(path)
  os.remove(path)
  local b = make_problem(2)
  b:load_state_dict(ck.model)
  local ob = optim.Adam(b:parameters(), {lr = 0.01, amsgrad = true})
  local sb = optim.multistep(ob, {milestones = {3}, gamma = 0.5})
  ob:load_state_dict(ck.optim)
  sb:load_state_dict(ck.schedule)
  T.eq(ob.lr, oa.lr)
  train(a, oa, sa, 3, 20)
  train(b, ob, sb, 3, 20)
  local pa, pb = a:parameters(), b:parameters()
  for i = 1, #pa do T.ok(pa[i]:equal(pb[i]), "parameter " .. i .. " identical") end
end)
