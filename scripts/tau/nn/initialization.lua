-- Weight initialisers (tau.nn.init), with PyTorch's names and formulas.
local tau = require "tau"
local util = require "tau.util"
local raise, shape_str = util.raise, util.shape_str

local init = {}

local function fans(t, fn)
  local d = t:dim()
  if d < 2 then
    raise(fn .. ": fan in and fan out need a tensor with at least 2 dimensions, got " .. shape_str(t))
  end
  local receptive = 1
  for i = 3, d do receptive = receptive * t:size(i) end
  return t:size(2) * receptive, t:size(1) * receptive
end

function init.calculate_gain(nonlinearity, param)
  nonlinearity = nonlinearity or "leaky_relu"
  if nonlinearity == "linear" or nonlinearity == "sigmoid" or nonlinearity:match("^conv") then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "selu" then return 3 / 4 end
  if nonlinearity == "leaky_relu" then
    local slope = param or 0.01
    return math.sqrt(2 / (1 + slope * slope))
  end
  raise("tau.nn.init.calculate_gain: unknown nonlinearity '" .. tostring(nonlinearity) .. "'")
end

local function in_place(fn) return tau.no_grad(fn) end

function init.uniform_(t, a, b)
  in_place(function() t:uniform_(a or 0, b or 1) end)
  return t
end

function init.normal_(t, mean, std)
  in_place(function() t:normal_(mean or 0, std or 1) end)
  return t
end

function init.constant_(t, v)
  in_place(function() t:fill_(v) end)
  return t
end

function init.zeros_(t) return init.constant_(t, 0) end
function init.ones_(t) return init.constant_(t, 1) end

-- Options of the Kaiming initialisers: a number (the negative slope a) or {a, mode, nonlinearity}.
local KAIMING = {a = {"number", default = 0}, mode = {"string", choices = {"fan_in", "fan_out"}, default = "fan_in"},
                 nonlinearity = {"string", default = "leaky_relu"}}
local kaiming_opts = {}
for _, name in ipairs{"tau.nn.init.kaiming_uniform_", "tau.nn.init.kaiming_normal_"} do
  kaiming_opts[name] = tau.options.spec(name, KAIMING)
end

local function kaiming_std(t, o, fn)
  if type(o) == "number" then o = {a = o} end
  o = kaiming_opts[fn](o)
  local fan_in, fan_out = fans(t, fn)
  local mode = o.mode
  local fan = mode == "fan_in" and fan_in or fan_out
  return init.calculate_gain(o.nonlinearity, o.a) / math.sqrt(fan)
end

function init.kaiming_uniform_(t, o)
  local bound = math.sqrt(3) * kaiming_std(t, o, "tau.nn.init.kaiming_uniform_")
  return init.uniform_(t, -bound, bound)
end

function init.kaiming_normal_(t, o)
  return init.normal_(t, 0, kaiming_std(t, o, "tau.nn.init.kaiming_normal_"))
end

function init.xavier_uniform_(t, gain)
  local fan_in, fan_out = fans(t, "tau.nn.init.xavier_uniform_")
  local bound = (gain or 1) * math.sqrt(6 / (fan_in + fan_out))
  return init.uniform_(t, -bound, bound)
end

function init.xavier_normal_(t, gain)
  local fan_in, fan_out = fans(t, "tau.nn.init.xavier_normal_")
  return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fan_in + fan_out)))
end

-- Normal(mean, std) restricted to [a, b] (absolute bounds, as PyTorch), by redrawing the
-- samples that fall outside: each round keeps the accepted ones, so it ends in a few rounds.
local trunc_normal_opts = tau.options.spec("tau.nn.init.trunc_normal_", {
  mean = {"number", default = 0}, std = {"number", min = 0, default = 1}, a = {"number", default = -2},
  b = {"number", default = 2}})
function init.trunc_normal_(t, o)
  o = trunc_normal_opts(o)
  local mean, std, a, b = o.mean, o.std, o.a, o.b
  if not (a < b) then raise("tau.nn.init.trunc_normal_: need a < b, got a = " .. a .. ", b = " .. b) end
  in_place(function()
    local x = tau.randn(t:size()) * std + mean
    for _ = 1, 100 do
      local bad = x:lt(a) + x:gt(b)
      if bad:sum():item() == 0 then break end
      x = tau.where(bad, tau.randn(t:size()) * std + mean, x)
    end
    t:copy_(x:clamp(a, b))
  end)
  return t
end

init._fans = fans -- for the layers' default initialisation
return init
