-- Residual networks with a CIFAR stem (3x3 convolution, stride 1, no max-pool), ending in
-- adaptive average pooling, so any input of at least 8x8 pixels works.
--   depth 18, 34: BasicBlock stages [2,2,2,2] / [3,4,6,3] of width x {1, 2, 4, 8}
--   depth 50, 101, 152: Bottleneck stages (4x expansion) [3,4,6,3] / [3,4,23,3] / [3,8,36,3]
--   depth 6n+2 (20, 32, 44, 56, 110): the CIFAR ResNets, three BasicBlock stages of n blocks
--     and width/4 x {1, 2, 4} channels (16/32/64 at the default width)
-- width (default 64) scales every depth alike: width = 16 makes any of them a quarter as wide.
-- Downsampling shortcuts are 1x1 convolutions with batch norm (the projection shortcut).
local tau = require "tau"
local raise = require("tau.util").raise
local nn = tau.nn
local F = tau.F

local function conv3(i, o, stride) return nn.Conv2d(i, o, 3, {stride = stride, padding = 1, bias = false}) end
local function conv1(i, o, stride) return nn.Conv2d(i, o, 1, {stride = stride, bias = false}) end

local function shortcut(i, o, stride)
  if stride == 1 and i == o then return nil end
  return nn.Sequential{conv1(i, o, stride), nn.BatchNorm2d(o)}
end

local BasicBlock = nn.Module:extend("BasicBlock")
BasicBlock.expansion = 1

function BasicBlock:init(i, planes, stride)
  self.conv1 = conv3(i, planes, stride)
  self.bn1 = nn.BatchNorm2d(planes)
  self.conv2 = conv3(planes, planes, 1)
  self.bn2 = nn.BatchNorm2d(planes)
  self.downsample = shortcut(i, planes, stride)
end

function BasicBlock:forward(x)
  local out = F.relu(self.bn1(self.conv1(x)))
  out = self.bn2(self.conv2(out))
  local skip = self.downsample and self.downsample(x) or x
  return F.relu(out + skip)
end

local Bottleneck = nn.Module:extend("Bottleneck")
Bottleneck.expansion = 4

function Bottleneck:init(i, planes, stride)
  local o = planes * 4
  self.conv1 = conv1(i, planes, 1)
  self.bn1 = nn.BatchNorm2d(planes)
  self.conv2 = conv3(planes, planes, stride)
  self.bn2 = nn.BatchNorm2d(planes)
  self.conv3 = conv1(planes, o, 1)
  self.bn3 = nn.BatchNorm2d(o)
  self.downsample = shortcut(i, o, stride)
end

function Bottleneck:forward(x)
  local out = F.relu(self.bn1(self.conv1(x)))
  out = F.relu(self.bn2(self.conv2(out)))
  out = self.bn3(self.conv3(out))
  local skip = self.downsample and self.downsample(x) or x
  return F.relu(out + skip)
end

local ResNet = nn.Module:extend("ResNet")

local configs = {
  [18] = {BasicBlock, {2, 2, 2, 2}}, [34] = {BasicBlock, {3, 4, 6, 3}},
  [50] = {Bottleneck, {3, 4, 6, 3}}, [101] = {Bottleneck, {3, 4, 23, 3}}, [152] = {Bottleneck, {3, 8, 36, 3}},
}

function ResNet:init(o)
  local fn = "tau.models.resnet"
  local depth = o.depth or 18
  local cfg = configs[depth]
  local block, counts
  local width = math.tointeger(o.width or 64) -- the spec checked it is a positive integer
  if cfg then
    block, counts = cfg[1], cfg[2]
  elseif math.type(depth) == "integer" and depth >= 8 and (depth - 2) % 6 == 0 then
    local n = (depth - 2) // 6
    block, counts, width = BasicBlock, {n, n, n}, math.max(1, width // 4)
  else
    raise(fn .. ": unsupported depth " .. tostring(depth) .. " (18, 34, 50, 101, 152, or 6n+2 such as 20, 32, 56)")
  end
  self.depth = depth
  self.conv1 = conv3(o.channels or 3, width, 1)
  self.bn1 = nn.BatchNorm2d(width)
  local inplanes = width
  for s, n in ipairs(counts) do
    local planes = width * 2 ^ (s - 1) // 1
    local blocks = nn.Sequential()
    for b = 1, n do
      blocks:add(block(inplanes, planes, (b == 1 and s > 1) and 2 or 1))
      inplanes = planes * block.expansion
    end
    self["layer" .. s] = blocks
  end
  self.stages = #counts
  self.pool = nn.AdaptiveAvgPool2d(1)
  self.fc = nn.Linear(inplanes, o.classes or 10)
  -- torchvision's initialisation: He-normal (fan_out) convolutions; batch norm at 1 and 0
  for _, m in ipairs(self:modules()) do
    if m.__name == "Conv2d" then nn.init.kaiming_normal_(m.weight, {mode = "fan_out", nonlinearity = "relu"}) end
  end
  if o.zero_init_residual then
    for _, m in ipairs(self:modules()) do
      local last = m.bn3 or m.bn2
      if (m.__name == "BasicBlock" or m.__name == "Bottleneck") and last then nn.init.zeros_(last.weight) end
    end
  end
end

function ResNet:forward(x)
  x = F.relu(self.bn1(self.conv1(x)))
  for s = 1, self.stages do x = self["layer" .. s](x) end
  return self.fc(self.pool(x):flatten(2))
end

-- resnet{depth = 18, width = 64, classes = 10, channels = 3, zero_init_residual = false}
local resnet_opts = tau.options.spec("tau.models.resnet", {
  depth = "integer", width = {"integer", min = 1}, classes = {"integer", min = 1}, channels = {"integer", min = 1},
  zero_init_residual = "boolean"})
return function(o) return ResNet(resnet_opts(o)) end
