-- tau.optim: SGD, Adam, AdamW over fused C kernels, learning-rate schedules and gradient
-- clipping, with PyTorch's update formulas.
--
--   local opt = optim.SGD(model:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 5e-4})
--   local sched = optim.cosine(opt, {epochs = 30, warmup = 1, steps_per_epoch = #loader})
--   ... loss:backward(); opt:step(); opt:zero_grad(); sched:step() ...
--
-- params is a list of tensors, or a list of groups {params = {...}, lr = ..., ...} whose
-- options override the defaults. Parameters without a gradient are skipped by step().
local tau = require "tau"

local optim = {}

local sgd_step, adam_step, clip = tau._sgd_step, tau._adam_step, tau._clip_grad_norm

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = type(v) == "table" and copy(v) or v end
  return c
end

local function check_number(v, what, fn, lo, hi)
  if type(v) ~= "number" or v ~= v or (lo and v < lo) or (hi and v > hi) then
    local range = lo and hi and string.format(" in [%g, %g]", lo, hi) or lo and string.format(" >= %g", lo) or ""
    error(string.format("%s: %s must be a number%s, got %s", fn, what, range, tostring(v)), 0)
  end
end

-------------------------------------------------------------------------------- Optimizer

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

-- A new optimiser class; defaults are filled into each group, validate(group, fn) checks one.
local function class(name, defaults, validate)
  local cls = setmetatable({}, {__index = Optimizer})
  -- opt.lr reads the first group's current rate, for logging
  cls.__index = function(self, k)
    if k == "lr" then return self.param_groups[1].lr end
    return cls[k]
  end
  cls.__name = name
  cls.defaults = defaults
  cls.validate = validate
  return setmetatable(cls, {__index = Optimizer, __call = function(c, params, opts) return c.new(c, params, opts) end})
end

function Optimizer.new(cls, params, opts)
  local fn = "tau.optim." .. cls.__name
  opts = opts or {}
  if type(params) ~= "table" then error(fn .. ": params must be a list of tensors or of groups, got " .. type(params), 2) end
  if type(opts) ~= "table" then error(fn .. ": options must be a table, got " .. type(opts), 2) end
  local self = setmetatable({param_groups = {}, state = {}, fn = fn}, cls)
  local groups = params
  local first = params[1]
  if not (type(first) == "table" and getmetatable(first) == nil and first.params ~= nil) then
    groups = {{params = params}}
  end
  local seen = {}
  for gi, g in ipairs(groups) do
    if type(g) ~= "table" or type(g.params) ~= "table" then
      error(string.format("%s: group %d must be a table with a list 'params'", fn, gi), 2)
    end
    local group = {}
    for k, v in pairs(cls.defaults) do group[k] = type(v) == "table" and copy(v) or v end
    for k, v in pairs(opts) do group[k] = type(v) == "table" and copy(v) or v end
    for k, v in pairs(g) do if k ~= "params" then group[k] = type(v) == "table" and copy(v) or v end end
    group.params = {}
    for i, p in ipairs(g.params) do
      if not tau.is_tensor(p) then
        error(string.format("%s: parameter %d of group %d is not a tensor (%s)", fn, i, gi, type(p)), 2)
      end
      if seen[p] then error(string.format("%s: parameter %d of group %d appears more than once", fn, i, gi), 2) end
      seen[p] = true
      group.params[i] = p
    end
    if group.lr == nil then error(fn .. ": a learning rate 'lr' is required", 2) end
    cls.validate(group, fn)
    group.initial_lr = group.initial_lr or group.lr
    self.param_groups[gi] = group
  end
  return self
end

function Optimizer:zero_grad()
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do p:zero_grad() end
  end
end

function Optimizer:get_lr() return self.param_groups[1].lr end

function Optimizer:set_lr(lr)
  for _, g in ipairs(self.param_groups) do g.lr = lr end
end

-- step(closure): closure recomputes the loss with gradients (run before the update); its
-- value is returned.
function Optimizer:step(closure)
  local loss
  if closure then loss = closure() end
  for _, g in ipairs(self.param_groups) do self:update(g) end
  return loss
end

local STATE_KEYS = {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"}

-- A snapshot: state tensors are cloned, parameters referred to by their 1-based position
-- across the groups, so it loads into an optimiser built the same way on another model.
function Optimizer:state_dict()
  local state, groups, idx = {}, {}, 0
  for gi, g in ipairs(self.param_groups) do
    local group = {}
    for k, v in pairs(g) do
      if k ~= "params" then group[k] = type(v) == "table" and copy(v) or v end
    end
    group.params = {}
    for _, p in ipairs(g.params) do
      idx = idx + 1
      group.params[#group.params + 1] = idx
      local st = self.state[p]
      if st then
        local s = {}
        for _, k in ipairs(STATE_KEYS) do
          local v = st[k]
          if tau.is_tensor(v) then s[k] = v:clone() else s[k] = v end
        end
        state[idx] = s
      end
    end
    groups[gi] = group
  end
  return {state = state, param_groups = groups}
end

function Optimizer:load_state_dict(sd)
  local fn = self.fn .. ":load_state_dict"
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" or type(sd.state) ~= "table" then
    error(fn .. ": expected a table {state = ..., param_groups = ...} from state_dict()", 2)
  end
  if #sd.param_groups ~= #self.param_groups then
    error(string.format("%s: the state has %d parameter groups, this optimiser %d", fn, #sd.param_groups,
                        #self.param_groups), 2)
  end
  local by_index = {}
  for gi, g in ipairs(self.param_groups) do
    local sg = sd.param_groups[gi]
    if #sg.params ~= #g.params then
      error(string.format("%s: group %d has %d parameters in the state, %d in this optimiser", fn, gi,
                          #sg.params, #g.params), 2)
    end
    for i, p in ipairs(g.params) do by_index[sg.params[i]] = p end
  end
  for idx, s in pairs(sd.state) do
    local p = by_index[idx]
    if not p then error(string.format("%s: state for parameter %s, which no group lists", fn, tostring(idx)), 2) end
    for _, k in ipairs(STATE_KEYS) do
      local v = s[k]
      if tau.is_tensor(v) and table.concat(v:size(), "x") ~= table.concat(p:size(), "x") then
        error(string.format("%s: %s of parameter %d has size [%s], the parameter [%s]", fn, k, idx,
                            table.concat(v:size(), ", "), table.concat(p:size(), ", ")), 2)
      end
    end
  end
  self.state = {}
  for gi, g in ipairs(self.param_groups) do
    for k, v in pairs(sd.param_groups[gi]) do
      if k ~= "params" then g[k] = type(v) == "table" and copy(v) or v end
    end
  end
  for idx, s in pairs(sd.state) do
    local st = {}
    for _, k in ipairs(STATE_KEYS) do
      local v = s[k]
      if tau.is_tensor(v) then st[k] = v:float():contiguous():clone() else st[k] = v end
    end
    self.state[by_index[idx]] = st
  end
end

-------------------------------------------------------------------------------- SGD

-- SGD with momentum as PyTorch: buf = momentum * buf + (1 - dampening) * (g + wd * p), the
-- first buffer being the gradient itself; nesterov steps along g + momentum * buf.
local SGD = class("SGD", {momentum = 0, dampening = 0, weight_decay = 0, nesterov = false},
  function(g, fn)
    check_number(g.lr, "lr", fn, 0)
    check_number(g.momentum, "momentum", fn, 0)
    check_number(g.dampening, "dampening", fn)
    check_number(g.weight_decay, "weight_decay", fn, 0)
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      error(fn .. ": nesterov momentum needs a momentum > 0 and zero dampening", 0)
    end
  end)
optim.SGD = SGD

function SGD:update(g)
  local state = self.state
  local lr, mom, damp, wd, nest = g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov
  for _, p in ipairs(g.params) do
    local st = state[p]
    if mom == 0 then
      sgd_step(p, nil, false, lr, 0, damp, wd, false)
    elseif st and st.momentum_buffer then
      sgd_step(p, st.momentum_buffer, false, lr, mom, damp, wd, nest)
    elseif p.grad ~= nil then
      local buf = tau.zeros(p:size())
      sgd_step(p, buf, true, lr, mom, damp, wd, nest)
      state[p] = {momentum_buffer = buf}
    end
  end
end

-------------------------------------------------------------------------------- Adam, AdamW

local function adam_validate(g, fn)
  check_number(g.lr, "lr", fn, 0)
  check_number(g.eps, "eps", fn, 0)
  check_number(g.weight_decay, "weight_decay", fn, 0)
  if type(g.betas) ~= "table" then error(fn .. ": betas must be a pair {beta1, beta2}", 0) end
  check_number(g.betas[1], "beta1", fn, 0, 1)
  check_number(g.betas[2], "beta2", fn, 0, 1)
  if g.betas[1] >= 1 or g.betas[2] >= 1 then error(fn .. ": betas must be below 1", 0) end
end

local function adam_update(self, g, decoupled)
  local state = self.state
  local lr, b1, b2, eps, wd = g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay
  local ams = g.amsgrad
  for _, p in ipairs(g.params) do
    local st = state[p]
    if not st then
      if p.grad ~= nil then
        st = {step = 0, exp_avg = tau.zeros(p:size()), exp_avg_sq = tau.zeros(p:size()),
              max_exp_avg_sq = ams and tau.zeros(p:size()) or nil}
        state[p] = st
      end
    end
    if st then
      local vmax = nil
      if ams then
        st.max_exp_avg_sq = st.max_exp_avg_sq or tau.zeros(p:size())
        vmax = st.max_exp_avg_sq
      end
      if adam_step(p, st.exp_avg, st.exp_avg_sq, vmax, st.step + 1, lr, b1, b2, eps, wd, decoupled) then
        st.step = st.step + 1
      end
    end
  end
end

-- Adam: L2 weight decay added to the gradient; bias-corrected moments.
local Adam = class("Adam", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false},
                   adam_validate)
optim.Adam = Adam
function Adam:update(g) adam_update(self, g, false) end

-- AdamW: decoupled weight decay, p <- p * (1 - lr * weight_decay) before the Adam step.
local AdamW = class("AdamW", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, amsgrad = false},
                    adam_validate)
optim.AdamW = AdamW
function AdamW:update(g) adam_update(self, g, true) end

-------------------------------------------------------------------------------- clipping

-- Scales the gradients of params in place so their joint norm is at most max_norm (when it
-- exceeds it); returns the norm before clipping. norm_type may be math.huge.
function optim.clip_grad_norm(params, max_norm, norm_type)
  if tau.is_tensor(params) then params = {params} end
  if type(params) ~= "table" then error("tau.optim.clip_grad_norm: params must be a list of tensors", 2) end
  if type(max_norm) ~= "number" then error("tau.optim.clip_grad_norm: max_norm must be a number", 2) end
  return clip(params, max_norm, norm_type or 2)
end

-------------------------------------------------------------------------------- schedules

-- A schedule sets the learning rate of every group from its initial_lr and a step count;
-- step() advances the count by one and applies the new rate. Construction applies the rate
-- for count 0. The field per_step tells a training loop when to call step(): after every
-- optimiser step when true, after every epoch when false.
local Schedule = {}
Schedule.__index = Schedule

local function schedule(name, rate)
  local cls = setmetatable({__name = name, rate = rate}, {__index = Schedule})
  cls.__index = cls
  return cls
end

local function new_schedule(cls, opt, o, fn)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    error(fn .. ": argument 1 must be an optimiser", 0)
  end
  local self = setmetatable({optimizer = opt, last_step = 0, o = o, fn = fn, per_step = false}, cls)
  self.base_lrs = {}
  for i, g in ipairs(opt.param_groups) do
    g.initial_lr = g.initial_lr or g.lr
    self.base_lrs[i] = g.initial_lr
  end
  self:apply()
  return self
end

function Schedule:apply()
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = self:rate(self.base_lrs[i], self.last_step) end
end

function Schedule:step()
  self.last_step = self.last_step + 1
  self:apply()
  return self:get_lr()
end

function Schedule:get_lr() return self.optimizer.param_groups[1].lr end

function Schedule:get_lrs()
  local out = {}
  for i, g in ipairs(self.optimizer.param_groups) do out[i] = g.lr end
  return out
end

function Schedule:state_dict()
  return {last_step = self.last_step, base_lrs = copy(self.base_lrs)}
end

function Schedule:load_state_dict(sd)
  if type(sd) ~= "table" or type(sd.last_step) ~= "number" then
    error(self.fn .. ":load_state_dict: expected a table from state_dict()", 2)
  end
  self.last_step = sd.last_step
  if sd.base_lrs then self.base_lrs = copy(sd.base_lrs) end
  self:apply()
end

local Cosine = schedule("cosine", function(self, base, s)
  local o = self.o
  local warm, total = o.warmup_steps, o.total_steps
  if s < warm then return base * (s + 1) / (warm + 1) end
  if s >= total then return o.min_lr end
  local progress = (s - warm) / math.max(1, total - warm)
  return o.min_lr + (base - o.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
end)

-- cosine(opt, {epochs, warmup = 0, steps_per_epoch = 1, min_lr = 0}): call step() once per
-- optimiser step when steps_per_epoch is given (once per epoch with the default 1). Linear
-- warmup over `warmup` epochs (rate (s + 1) / (W + 1) of the base at step s), then a half
-- cosine from the base rate down to min_lr at the end of the last epoch.
function optim.cosine(opt, o)
  local fn = "tau.optim.cosine"
  o = o or {}
  check_number(o.epochs, "epochs", fn, 0)
  local spe = o.steps_per_epoch or 1
  check_number(spe, "steps_per_epoch", fn, 1)
  local warmup = o.warmup or 0
  check_number(warmup, "warmup", fn, 0)
  local cfg = {total_steps = math.floor(o.epochs * spe + 0.5), warmup_steps = math.floor(warmup * spe + 0.5),
               min_lr = o.min_lr or 0}
  if cfg.warmup_steps > cfg.total_steps then error(fn .. ": warmup is longer than the schedule", 2) end
  local s = new_schedule(Cosine, opt, cfg, fn)
  s.per_step = spe > 1
  return s
end

local MultiStep = schedule("multistep", function(self, base, s)
  local n = 0
  for _, m in ipairs(self.o.milestones) do if s >= m then n = n + 1 end end
  return base * self.o.gamma ^ n
end)

-- multistep(opt, {milestones = {30, 60}, gamma = 0.1}): the rate is multiplied by gamma once
-- step() has been called milestone times (step() once per epoch, as PyTorch's MultiStepLR).
function optim.multistep(opt, o)
  local fn = "tau.optim.multistep"
  o = o or {}
  if type(o.milestones) ~= "table" then error(fn .. ": milestones must be a list of step counts", 2) end
  local ms = {}
  for i, m in ipairs(o.milestones) do check_number(m, "milestone", fn, 0); ms[i] = m end
  table.sort(ms)
  local gamma = o.gamma or 0.1
  check_number(gamma, "gamma", fn, 0)
  return new_schedule(MultiStep, opt, {milestones = ms, gamma = gamma}, fn)
end

local StepLR = schedule("step_lr", function(self, base, s)
  return base * self.o.gamma ^ (s // self.o.step_size)
end)

-- step_lr(opt, {step_size, gamma = 0.1}): multiplied by gamma every step_size calls of step().
function optim.step_lr(opt, o)
  local fn = "tau.optim.step_lr"
  o = o or {}
  check_number(o.step_size, "step_size", fn, 1)
  local gamma = o.gamma or 0.1
  check_number(gamma, "gamma", fn, 0)
  return new_schedule(StepLR, opt, {step_size = o.step_size, gamma = gamma}, fn)
end

return optim
